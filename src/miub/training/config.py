"""Configuration of one LoRA fine-tuning run: the contract between `miub train`, sweeps and
the results store. A run's key is the hash of its fully resolved config (see ``run_key``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from miub.tasks.base import EvalSplit

DEFAULT_TARGET_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)


class EvalConfig(BaseModel):
    """What is measured at each evaluation point."""

    model_config = ConfigDict(extra="forbid")

    estimators: list[str] = Field(default_factory=lambda: ["js-mi"])
    k: int = Field(64, ge=2, le=4096, description="feature alphabet size of matrix estimators")
    tau: float = Field(0.5, gt=0, allow_inf_nan=False, description="softmax temperature")
    feature_map: str = Field("projection", description="projection | topk | identity")
    estimator_seed: int = 0
    split: EvalSplit = Field(
        "validation",
        description="held-out questions to evaluate on: validation, test, or validation+test"
        " (both, validation first: every held-out question, for a smaller ACC standard error)",
    )
    eval_examples: int = Field(200, ge=1, description="held-out examples for ACC / MIUB")
    ce_examples: int = Field(200, ge=1, description="held-out examples for CE / PPL")
    batch_size: int = Field(16, ge=1)
    interval_steps: int = Field(
        0, ge=0, description="evaluate every N steps during training; 0 = only at the end"
    )
    at_start: bool = Field(
        False,
        description="also evaluate before the first optimiser step (step 0: the zero-shot"
        " baseline; LoRA's B = 0 makes it the base model's scores)",
    )


class TrainConfig(BaseModel):
    """One LoRA fine-tuning run. ``model`` is ``zoo:NAME``, a Hugging Face id or a local dir."""

    model_config = ConfigDict(extra="forbid")

    model: str
    task: str
    rank: int = Field(8, ge=1)
    data_size: int = Field(256, ge=1, description="number of fine-tuning examples (axis D)")
    seed: int = 0
    alpha: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="LoRA alpha; None = 2 * rank"
    )
    dropout: float = Field(0.05, ge=0, lt=1, allow_inf_nan=False)
    use_rslora: bool = False
    target_modules: list[str] = Field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    learning_rate: float = Field(2e-3, gt=0, le=10.0, allow_inf_nan=False)
    epochs: float = Field(3.0, gt=0, le=1e6, allow_inf_nan=False)
    max_steps: int | None = Field(
        None,
        ge=1,
        description="fixed number of optimiser steps (cycling the data); None = epochs x batches."
        " Fixing it separates data size D from optimisation length",
    )
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(128, ge=8)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    warmup_ratio: float = Field(0.05, ge=0, lt=1, allow_inf_nan=False)
    task_options: dict[str, Any] = Field(default_factory=dict, description="e.g. complexity knob")
    dtype: str = Field(
        "float32",
        pattern=r"^(float32|bfloat16|float16)$",
        description="float32 | bfloat16 | float16",
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    device_map: str | None = Field(
        None, description="from_pretrained device_map for models larger than one device (e.g. auto)"
    )
    gradient_checkpointing: bool = False
    threads: int | None = Field(
        None,
        ge=1,
        description="torch CPU threads (intra-op) during the run; None = leave torch's setting"
        " (a sweep sets it from resources.num_cpus). `miub train` defaults to 1, the fastest on"
        " a shared CPU (benchmarks/real_model.py)",
    )
    eval: EvalConfig = Field(default_factory=lambda: EvalConfig())

    def resolved_alpha(self) -> float:
        return float(self.alpha) if self.alpha is not None else 2.0 * self.rank


def run_key(config: TrainConfig, extra: dict[str, Any] | None = None) -> str:
    """Stable 16-hex-digit key of a fully resolved run config (sha256 of canonical JSON)."""
    payload = {"config": config.model_dump(mode="json"), "extra": extra or {}}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
