"""Capture the base and LoRA branches of every LoRA module and feed MIUB estimators.

See METHOD.md §2. Public entry point: :func:`capture`, also reachable as ``miub.capture(...)``.

Once this package is imported, the attribute ``miub.capture`` is the package, not the function
(Python binds a sub-package on its parent). So the package itself is made callable and forwards
to :func:`capture`; ``miub.capture(model, ...)`` works either way.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from miub.capture.modules import LoraModuleInfo, classify_module, find_lora_modules
from miub.capture.result import AggregateValue, CaptureResult, ModuleResult
from miub.capture.session import Capture, capture

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


class _CallablePackage(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Capture:
        return capture(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
