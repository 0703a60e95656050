"""Estimator registry: find an estimator by name, build it, or run it once on tensors.

Every estimator is registered with a one-line formula, its orientation under the paper's
reading (lower MIUB = less reliance on the base = better), and its units::

    >>> [spec.name for spec in list_estimators()]
    ['js-mi', 'mi', 'dpi', 'token-jsd', 'miub-token', 'norm-ratio', 'cosine', 'linear-cka']
    >>> r = estimate("js-mi", base, lora, mask=None, k=64, tau=1.0)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from miub.interface import EstimateResult, MetricSpec, StreamingEstimator, column_name

if TYPE_CHECKING:
    import torch

DEFAULT_ESTIMATOR = "js-mi"

Orientation = Literal["lower_is_better", "higher_is_better", "none"]
EstimatorKind = Literal["dependence", "baseline"]

REFERENCE_POINTS = {
    "null": "independence baseline: the value with the LoRA rows permuted across tokens",
    "ceiling": "the value with the LoRA branch replaced by the base branch",
    "corrected": "jackknife bias-corrected value",
    "normalized": "(value - null) / (ceiling - null): 0 at independence, 1 at the ceiling",
}
"""Extras every dependence estimator reports beside its plug-in value (docs/method.md §3.7);
the keys are :data:`miub.estimators.references.REFERENCE_KEYS` (``normalized`` also has a
``normalized_stderr`` and replicates; equality tested)."""


class LazyFactory:
    """An estimator class named by module and attribute, imported on first use, so that the
    registry (and :mod:`miub.metrics`, which reads it) can be imported without torch:
    ``miub fit`` / ``miub report`` never build an estimator."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @property
    def target(self) -> Callable[..., StreamingEstimator]:
        cls: Callable[..., StreamingEstimator] = getattr(
            importlib.import_module(f"miub.estimators.{self.module}"), self.name
        )
        return cls

    def __call__(self, **params: Any) -> StreamingEstimator:
        return self.target(**params)


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator.

    Attributes:
        name: registry name, e.g. ``"js-mi"``.
        formula: one-line definition (see the module docstrings for the full one).
        orientation: ``"lower_is_better"``, ``"higher_is_better"`` or ``"none"``.
        units: ``"nats"`` or the unit of a unitless baseline.
        factory: builds a fresh estimator from keyword parameters.
        kind: ``"dependence"`` (passes the pairing test of docs/method.md §3.8: moves to its
            independence value when the branches' pairing is broken and is not explained by
            one branch alone) or ``"baseline"`` (not a dependence measure; the label says what
            it is).
        label: what it measures, in a few words, for tables.
    """

    name: str
    formula: str
    orientation: Orientation
    units: str
    factory: Callable[..., StreamingEstimator] = field(repr=False, compare=False)
    kind: EstimatorKind = "dependence"
    label: str = ""

    @property
    def higher_is_better(self) -> bool | None:
        return {"lower_is_better": False, "higher_is_better": True, "none": None}[self.orientation]

    def metrics(self) -> list[MetricSpec]:
        """The metric columns this estimator produces (value, and reference points when it is a
        dependence measure); :mod:`miub.metrics` registers them."""
        column = column_name(self.name)
        main = MetricSpec(
            column, self.name, self.kind, self.higher_is_better, True,
            "mean_over_modules", self.units, self.label or self.formula, self.name,
        )  # fmt: skip
        if self.kind != "dependence":
            return [main]
        references = [
            MetricSpec(
                f"{column}_{point}",
                f"{self.name} ({point})",
                "dependence",
                self.higher_is_better if point in ("corrected", "normalized") else None,
                point == "normalized",
                "mean_over_modules",
                "unitless" if point == "normalized" else self.units,
                meaning,
                self.name,
            )
            for point, meaning in REFERENCE_POINTS.items()
        ]
        return [main, *references]

    @property
    def defaults(self) -> dict[str, Any]:
        """Parameter names and default values accepted by :attr:`factory`."""
        factory = self.factory
        signature = inspect.signature(
            factory.target if isinstance(factory, LazyFactory) else factory
        )
        return {name: p.default for name, p in signature.parameters.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formula": self.formula,
            "orientation": self.orientation,
            "units": self.units,
            "kind": self.kind,
            "label": self.label,
            "params": self.defaults,
        }

    def __str__(self) -> str:
        return f"{self.name:<11} [{self.kind}, {self.units}, {self.orientation}]  {self.formula}"


_SPECS = [
    EstimatorSpec(
        "js-mi",
        "JSD(P_IJ || P_I x P_J), P(i,j) = mean_t p_t(i) q_t(j), p/q = softmax of k mapped features",
        "lower_is_better",
        "nats",
        LazyFactory("joint", "JSMutualInformation"),
        "dependence",
        "JS divergence of the branches' feature joint from independence",
    ),
    EstimatorSpec(
        "mi",
        "KL(P_IJ || P_I x P_J): plug-in I(I;J) of the js-mi feature joint",
        "lower_is_better",
        "nats",
        LazyFactory("joint", "PluginMutualInformation"),
        "dependence",
        "plug-in mutual information of the branches' features",
    ),
    EstimatorSpec(
        "dpi",
        "min(I(I;T), I(J;T)), I(J;T) = H(mean_t q_t) - mean_t H(q_t); upper bound on mi",
        "lower_is_better",
        "nats",
        LazyFactory("joint", "DataProcessingBound"),
        "baseline",
        "baseline (marginal information per branch, not dependence)",
    ),
    EstimatorSpec(
        "token-jsd",
        "mean_t JSD(softmax(o_t/tau) || softmax(l_t/tau)) over d (or top_k) features",
        "higher_is_better",
        "nats",
        LazyFactory("token", "TokenJSD"),
        "baseline",
        "baseline (branch distinguishability, not dependence)",
    ),
    EstimatorSpec(
        "miub-token",
        "ln 2 - token-jsd",
        "lower_is_better",
        "nats",
        LazyFactory("token", "MiubToken"),
        "baseline",
        "baseline (branch distinguishability, not dependence)",
    ),
    EstimatorSpec(
        "norm-ratio",
        "mean_t ||l_t|| / ||o_t||",
        "none",
        "ratio",
        LazyFactory("token", "NormRatio"),
        "baseline",
        "baseline (relative scale of the branches, not dependence)",
    ),
    EstimatorSpec(
        "cosine",
        "mean_t cos(o_t, l_t)",
        "none",
        "cosine",
        LazyFactory("token", "Cosine"),
        "baseline",
        "baseline (per-token alignment of the branches, not dependence)",
    ),
    EstimatorSpec(
        "linear-cka",
        "||C_XY||_F^2 / (||C_XX||_F ||C_YY||_F) of the mapped outputs X = O R, Y = L R",
        "none",
        "unitless",
        LazyFactory("cka", "LinearCKA"),
        "dependence",
        "linear dependence of the mapped branches (CKA); unoriented",
    ),
]
_REGISTRY = {spec.name: spec for spec in _SPECS}


def list_estimators() -> list[EstimatorSpec]:
    """All registered estimators, default first; ``print(*list_estimators(), sep="\\n")``."""
    return list(_SPECS)


def get_spec(name: str) -> EstimatorSpec:
    """The spec registered under ``name`` (``js-mi``; its column spelling ``js_mi`` is accepted
    too); ValueError naming the valid choices otherwise."""
    try:
        return _REGISTRY[name if name in _REGISTRY else name.replace("_", "-")]
    except KeyError:
        raise ValueError(
            f"unknown estimator {name!r}; choose one of {', '.join(_REGISTRY)}"
        ) from None


def make_estimator(name: str, **params: Any) -> StreamingEstimator:
    """A fresh streaming estimator ``name`` built with ``params`` (unknown ones: ValueError)."""
    spec = get_spec(name)
    valid = spec.defaults
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"estimator {name!r} got unknown parameter(s) {', '.join(unknown)}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    return spec.factory(**params)


def _flatten_tokens(x: torch.Tensor, mask: torch.Tensor | None, what: str) -> torch.Tensor:
    """``(T, d)`` or ``(B, T, d)`` plus a ``(T,)`` / ``(B, T)`` mask -> float32 ``(N, d)``."""
    import torch

    if not torch.is_floating_point(x):
        raise ValueError(f"{what} must be a floating-point tensor (got {x.dtype})")
    if x.dim() not in (2, 3):
        raise ValueError(f"{what} must have shape (T, d) or (B, T, d) (got {tuple(x.shape)})")
    x = x.float()
    if mask is not None:
        if tuple(mask.shape) != tuple(x.shape[:-1]):
            raise ValueError(
                f"mask shape {tuple(mask.shape)} does not match {what} tokens {tuple(x.shape[:-1])}"
            )
        x = x[mask.to(device=x.device, dtype=torch.bool)]
    return x.reshape(-1, x.shape[-1])  # (N, d)


def estimate(
    name: str,
    base: torch.Tensor,
    lora: torch.Tensor,
    mask: torch.Tensor | None = None,
    sequence_ids: torch.Tensor | None = None,
    **params: Any,
) -> EstimateResult:
    """Run estimator ``name`` once on all real tokens of ``base`` and ``lora``.

    Args:
        name: registry name (see :func:`list_estimators`).
        base: base-branch outputs ``o``, ``(T, d)`` or ``(B, T, d)``, any float dtype.
        lora: LoRA-branch outputs ``l``, same shape.
        mask: ``(T,)`` or ``(B, T)``, bool or 0/1 int, true for real (non-padding) tokens.
        sequence_ids: ``(T,)`` or ``(B, T)`` int, the sequence each token belongs to (jackknife
            group = id mod G, docs/method.md §3.6); e.g. ``torch.arange(B)[:, None].expand(B, T)``
            for one sequence per row. None: every token is its own sequence (i.i.d. tokens).
        **params: estimator parameters (``k``, ``tau``, ``feature_map``, ``seed``, ...).

    Returns:
        The :class:`~miub.interface.EstimateResult` (nats unless ``units`` says otherwise).
    """
    import torch

    estimator = make_estimator(name, **params)
    if base.shape != lora.shape:
        raise ValueError(f"base {tuple(base.shape)} and lora {tuple(lora.shape)} differ in shape")
    base_tokens = _flatten_tokens(base, mask, "base")  # (N, d)
    lora_tokens = _flatten_tokens(lora, mask, "lora")  # (N, d)
    if base_tokens.shape[0] == 0:
        raise ValueError("no real tokens to estimate on (empty input or all-false mask)")
    ids = None
    if sequence_ids is not None:
        if tuple(sequence_ids.shape) != tuple(base.shape[:-1]):
            raise ValueError(
                f"sequence_ids shape {tuple(sequence_ids.shape)} does not match the tokens "
                f"{tuple(base.shape[:-1])}"
            )
        ids = sequence_ids.to(torch.int64)
        if mask is not None:
            ids = ids[mask.to(device=ids.device, dtype=torch.bool)]
        ids = ids.reshape(-1)  # (N,)
    estimator.update(base_tokens, lora_tokens, sequence_ids=ids)
    return estimator.result()
