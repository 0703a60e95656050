"""Capture the base and LoRA branches of every LoRA module and feed MIUB estimators.

See docs/method.md §2. Public entry point: :func:`capture`, re-exported as the function
``miub.capture(...)`` (this package is named ``hooks`` so that ``miub.capture`` is never a module).
"""

from __future__ import annotations

from miub.hooks.modules import LoraModuleInfo, classify_module, find_lora_modules
from miub.hooks.result import AggregateValue, CaptureResult, ModuleResult
from miub.hooks.session import Capture, capture

__all__ = [
    "AggregateValue",
    "Capture",
    "CaptureResult",
    "LoraModuleInfo",
    "ModuleResult",
    "capture",
    "classify_module",
    "find_lora_modules",
]
