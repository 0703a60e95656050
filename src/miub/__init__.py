"""miub: mutual-information upper bound (MIUB) and scaling laws for LoRA fine-tuning.

Public API (heavy modules are imported lazily, so ``import miub`` stays fast)::

    miub.list_estimators()
    miub.estimate("js-mi", base, lora, mask=None, k=64, tau=0.5)
    with miub.capture(peft_model, estimators=["js-mi"]) as cap: ...
    miub.evaluate_multiple_choice(model, tokenizer, examples)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # static view of the lazy attributes below, so mypy accepts miub.capture(model)
    from miub.estimators import estimate, list_estimators
    from miub.evaluation import evaluate_language_modeling, evaluate_multiple_choice
    from miub.hooks import capture
    from miub.interface import EstimateResult

__version__ = "0.1.0"

_LAZY = {
    "list_estimators": ("miub.estimators", "list_estimators"),
    "estimate": ("miub.estimators", "estimate"),
    "capture": ("miub.hooks", "capture"),
    "evaluate_multiple_choice": ("miub.evaluation", "evaluate_multiple_choice"),
    "evaluate_language_modeling": ("miub.evaluation", "evaluate_language_modeling"),
    "EstimateResult": ("miub.interface", "EstimateResult"),
}

__all__ = [
    "EstimateResult",
    "__version__",
    "capture",
    "estimate",
    "evaluate_language_modeling",
    "evaluate_multiple_choice",
    "list_estimators",
]
assert set(__all__) == {"__version__", *_LAZY}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        return getattr(import_module(module_name), attribute)
    if name in {"zoo", "tasks", "laws", "callbacks", "analysis"}:
        return import_module(f"miub.{name}")
    raise AttributeError(f"module 'miub' has no attribute {name!r}")
