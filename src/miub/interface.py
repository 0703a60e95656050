"""Contracts shared by every layer of miub.

This module imports nothing from the package (only torch for type names), so any layer may
depend on it. Estimators implement :class:`StreamingEstimator`; every value they return is an
:class:`EstimateResult` in nats (or the unit named in ``units``) with a standard error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch


@dataclass(frozen=True)
class EstimateResult:
    """One estimator's value on a set of tokens.

    Attributes:
        name: registry name of the estimator, e.g. ``"js-mi"``.
        value: the estimate (nats unless ``units`` says otherwise).
        stderr: standard error of ``value`` (same units).
        n_tokens: number of (non-padding) tokens the estimate is based on.
        params: the estimator parameters (k, tau, feature_map, seed, ...).
        extras: secondary values computed from the same state, e.g. ``{"mi": ..., "mi_stderr": ...}``.
        units: ``"nats"`` or ``"ratio"`` / ``"cosine"`` for the unitless baselines.
    """

    name: str
    value: float
    stderr: float
    n_tokens: int
    params: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, float] = field(default_factory=dict)
    units: str = "nats"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class StreamingEstimator(Protocol):
    """A streaming estimator: O(state) memory, independent of the number of tokens.

    ``update`` receives the two branch outputs of one module for the real tokens of one batch,
    already flattened and upcast: ``base`` and ``lora`` are float32 tensors of shape ``(T, d)``.
    It must not call ``.item()`` or otherwise synchronise (it runs inside forward hooks).
    ``result`` reduces the state to an :class:`EstimateResult`; it may be called at any time.
    """

    name: str

    def update(self, base: torch.Tensor, lora: torch.Tensor) -> None: ...

    def result(self) -> EstimateResult: ...


@runtime_checkable
class FactoredUpdate(Protocol):
    """Optional estimator capability: take the LoRA branch in factored, low-rank form.

    ``update_factored(base, inner, up)`` must equal ``update(base, inner @ up)`` up to float
    rounding, with ``base`` (n, d), ``inner`` = lora_A output (n, r) and ``up`` = scaling·Bᵀ
    (r, d), all float32. A projection ``l R`` then costs r·k instead of d·k flops per token.
    """

    def update_factored(
        self, base: torch.Tensor, lora_inner: torch.Tensor, lora_up: torch.Tensor
    ) -> None: ...
