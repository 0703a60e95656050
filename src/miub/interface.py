"""Contracts shared by every layer of miub.

This module imports nothing from the package (only torch for type names), so any layer may
depend on it. Estimators implement :class:`StreamingEstimator`; every value they return is an
:class:`EstimateResult` in nats (or the unit named in ``units``) with a standard error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
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
        replicates: delete-a-group jackknife replicates, ``"value"`` (and any extras key) ->
            ``G`` floats, the statistic recomputed without group ``g`` (NaN for an empty group).
            Groups are aligned across modules (group = global sequence index mod G), so an
            aggregate over modules gets its standard error by jackknifing the aggregate itself.
    """

    name: str
    value: float
    stderr: float
    n_tokens: int
    params: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, float] = field(default_factory=dict)
    units: str = "nats"
    replicates: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class StreamingEstimator(Protocol):
    """A streaming estimator: O(state) memory, independent of the number of tokens.

    ``update`` receives the two branch outputs of one module for the real tokens of one batch,
    already flattened and upcast: ``base`` and ``lora`` are float32 tensors of shape ``(T, d)``;
    ``sequence_ids`` is ``(T,)`` int64, the global index of the sequence each token belongs to
    (counted across batches), so the jackknife groups whole sequences (group = id mod G);
    ``None`` treats every token as its own sequence.
    It must not call ``.item()`` or otherwise synchronise (it runs inside forward hooks).
    ``result`` reduces the state to an :class:`EstimateResult`; it may be called at any time.
    """

    name: str

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None: ...

    def result(self) -> EstimateResult: ...


@runtime_checkable
class FactoredUpdate(Protocol):
    """Optional estimator capability: take the LoRA branch in factored, low-rank form.

    ``update_factored(base, inner, up, ids)`` must equal ``update(base, inner @ up, ids)`` up to float
    rounding, with ``base`` (n, d), ``inner`` = lora_A output (n, r) and ``up`` = scaling·Bᵀ
    (r, d), all float32. A projection ``l R`` then costs r·k instead of d·k flops per token.
    """

    def update_factored(
        self,
        base: torch.Tensor,
        lora_inner: torch.Tensor,
        lora_up: torch.Tensor,
        sequence_ids: torch.Tensor | None = None,
    ) -> None: ...


@runtime_checkable
class ResultMany(Protocol):
    """Optional estimator capability: reduce many instances of one class at once.

    ``type(e).result_many([e_1, ..., e_M])`` must equal ``[e_1.result(), ..., e_M.result()]``
    (up to float rounding); a capture calls it with the same estimator of every LoRA module,
    so the per-call overhead of M small reductions is paid once (docs/method.md §3.6).
    """

    @classmethod
    def result_many(cls, estimators: Sequence[Any]) -> list[EstimateResult]: ...


MetricKind = Literal["dependence", "baseline", "external"]
Aggregation = Literal["mean_over_modules", "mean_over_examples", "exp_of_mean"]
STDERR_SUFFIX = "_stderr"


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes:
        name: column name, e.g. ``"js_mi"``.
        label: what a reader sees, e.g. ``"js-mi"``.
        kind: ``dependence`` / ``baseline`` / ``external`` (module docstring).
        higher_is_better: orientation under the paper's reading; None = no orientation (the
            metric is reported but never judged as a scaling metric).
        has_stderr: the run reports ``<name>_stderr``.
        aggregation: how a run's value is formed from modules or examples.
        units: ``nats``, ``ratio``, ``probability``, ...
        description: one line, for tables and ``miub estimators``.
        estimator: the :mod:`miub.estimators` registry name it comes from, if any.
    """

    name: str
    label: str
    kind: MetricKind
    higher_is_better: bool | None
    has_stderr: bool
    aggregation: Aggregation
    units: str
    description: str
    estimator: str | None = None

    @property
    def oriented(self) -> bool:
        """True when the metric has a direction and can be judged."""
        return self.higher_is_better is not None

    @property
    def stderr_column(self) -> str | None:
        return f"{self.name}{STDERR_SUFFIX}" if self.has_stderr else None

    def orient(self, values: np.ndarray) -> np.ndarray:
        """``values`` mapped so that lower = better (negated when higher is better)."""
        if self.higher_is_better is None:
            raise ValueError(f"metric {self.name!r} has no orientation; it cannot be judged")
        array = np.asarray(values, dtype=float)
        return -array if self.higher_is_better else array


def column_name(registry_name: str) -> str:
    """``"js-mi"`` → ``"js_mi"`` (the one place this mapping lives)."""
    return registry_name.replace("-", "_")
