"""LoRA fine-tuning runs: config, training loop, Trainer callback.

``run_training`` is imported lazily so that ``miub.training.config`` stays light (no peft).
"""

from __future__ import annotations

from typing import Any

from miub.training.config import EvalConfig, TrainConfig, run_key

__all__ = ["EvalConfig", "TrainConfig", "run_key", "run_training"]


def __getattr__(name: str) -> Any:
    if name == "run_training":
        from miub.training.loop import run_training

        return run_training
    raise AttributeError(f"module 'miub.training' has no attribute {name!r}")
