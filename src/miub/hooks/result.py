"""Results of a capture pass and their aggregation over modules (docs/method.md §3.6).

Aggregation: per module → per layer (mean of the layer's modules) → model (mean over all
modules, not over layers) and per module type (attention vs FFN).

Standard error of an aggregate: every module is measured on the same tokens, so the modules'
errors are correlated and cannot be combined as if independent. Each estimator reports
delete-a-group jackknife replicates ``theta_m,(g)`` (``EstimateResult.replicates``), with
groups aligned across modules (group = global sequence index mod G). The aggregate is
jackknifed as a whole: with ``M`` modules and ``G'`` groups for which every module has a
replicate,

    theta_(g) = (1/M) sum_m theta_m,(g),    theta_. = (1/G') sum_g theta_(g),

    se = sqrt((G' - 1) / G' * sum_g (theta_(g) - theta_.)^2)

(Efron & Tibshirani 1993, section 11.2, applied to the mean over modules). This is an eval-sampling
error (which tokens were evaluated), not seed uncertainty. Only when some module lacks
replicates (an estimator written to the older protocol) does the aggregate fall back to
``sqrt(sum_m se_m**2) / M``, which treats the modules as independent and understates the
error when they share tokens; :attr:`AggregateValue.stderr_method` says which was used.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from miub.interface import STDERR_SUFFIX, EstimateResult

VALUE = "value"
"""Key of the main value in ``EstimateResult.replicates``."""

StderrMethod = Literal["jackknife", "independent"]


@dataclass(frozen=True)
class AggregateValue:
    """Mean of one estimator over a group of modules.

    Attributes:
        value: mean of the modules' values (units of the estimator, usually nats).
        stderr: delete-a-group jackknife standard error of that mean, from the modules'
            aligned replicates (module docstring); ``sqrt(sum se_m**2) / n`` only when
            replicates are missing (``stderr_method == "independent"``).
        n_modules: number of modules averaged.
        extras: the same mean for every secondary value the estimator reports; an extra
            ``<key>_stderr`` is the standard error of the mean of extra ``<key>``, jackknifed
            like ``stderr`` when ``<key>`` has replicates.
        stderr_method: ``"jackknife"`` or ``"independent"`` (the fallback), for ``stderr``.
        replicates: ``"value"`` (and extras keys) → the aggregate's G jackknife replicates
            (NaN where a group is missing), so aggregates can be combined further (not part
            of :meth:`to_dict`, which keeps the JSON small).
        undefined: extras key → number of modules where it was NaN and so left out of its
            mean (only keys with some; e.g. ``normalized`` where ceiling <= null).
    """

    value: float
    stderr: float
    n_modules: int
    extras: dict[str, float] = field(default_factory=dict)
    stderr_method: StderrMethod = "jackknife"
    replicates: dict[str, list[float]] = field(default_factory=dict)
    undefined: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "value": self.value,
            "stderr": self.stderr,
            "n_modules": self.n_modules,
            "extras": dict(self.extras),
            "stderr_method": self.stderr_method,
        }
        if self.undefined:
            out["undefined"] = dict(self.undefined)
        return out


@dataclass(frozen=True)
class ModuleResult:
    """All estimators on one LoRA module.

    Attributes:
        name: dotted module name, e.g. ``"model.layers.0.self_attn.q_proj"``.
        layer: block index or None; module_type: ``"attention"`` / ``"ffn"`` / ``"other"``.
        out_features: ``d`` of the module output.
        n_updates: number of forwards with measured tokens that reached this module (once per
            forward, also under gradient checkpointing; a forward whose mask selects no token
            is not counted).
        estimates: estimator name → :class:`~miub.interface.EstimateResult`.
    """

    name: str
    layer: int | None
    module_type: str
    out_features: int
    n_updates: int
    estimates: dict[str, EstimateResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layer": self.layer,
            "module_type": self.module_type,
            "out_features": self.out_features,
            "n_updates": self.n_updates,
            "estimates": {key: value.to_dict() for key, value in self.estimates.items()},
        }


def independent_stderr(errors: Sequence[float]) -> float:
    """``sqrt(sum se_m**2) / n``: the standard error of a mean of independent values."""
    return math.sqrt(sum(error * error for error in errors)) / len(errors)


def jackknife_of_mean(replicates: Sequence[Sequence[float]]) -> tuple[float, list[float]]:
    """Jackknife standard error of a mean over modules from aligned replicates.

    Args:
        replicates: ``(M, G)`` — module ``m``'s statistic without group ``g`` (NaN: missing).

    Returns:
        ``(se, theta)``: the standard error (NaN with fewer than two groups present in every
        module) and the ``(G,)`` replicates of the mean (NaN where any module lacks group g).
    """
    table = np.asarray(replicates, dtype=np.float64)  # (M, G)
    mean = table.mean(axis=0)  # (G,) NaN where any module is NaN
    present = mean[np.isfinite(mean)]  # (G',)
    n_groups = present.shape[0]
    if n_groups < 2:
        return math.nan, mean.tolist()
    spread = float(((present - present.mean()) ** 2).sum())
    return math.sqrt((n_groups - 1) / n_groups * spread), mean.tolist()


def _aligned(estimates: Sequence[EstimateResult], key: str) -> list[list[float]] | None:
    """The modules' replicates of ``key`` when every module has them, with one length."""
    rows = [estimate.replicates.get(key) for estimate in estimates]
    if any(row is None or len(row) == 0 for row in rows):
        return None
    if len({len(row) for row in rows if row is not None}) != 1:
        return None
    return [list(row) for row in rows if row is not None]


def mean_over_modules(estimates: list[EstimateResult]) -> AggregateValue:
    """Average one estimator over modules; standard errors by jackknifing the mean itself
    (module docstring), or by the independence formula where replicates are missing.

    An extra that is undefined (NaN) in some modules but not all -- e.g. ``normalized`` where
    a module's ceiling does not exceed its null -- is averaged over the modules where it is
    defined, and the number left out is recorded in ``undefined``.
    """
    n = len(estimates)
    replicates: dict[str, list[float]] = {}

    def stderr_of(
        key: str, errors: list[float], members: list[EstimateResult]
    ) -> tuple[float, bool]:
        rows = _aligned(members, key)
        if rows is None:
            return independent_stderr(errors), False
        se, replicates[key] = jackknife_of_mean(rows)
        return se, True

    stderr, jackknifed = stderr_of(VALUE, [estimate.stderr for estimate in estimates], estimates)
    shared = set.intersection(*(set(estimate.extras) for estimate in estimates))
    defined: dict[str, list[EstimateResult]] = {}
    undefined: dict[str, int] = {}
    for key in shared:
        if not key.endswith(STDERR_SUFFIX):
            members = [e for e in estimates if math.isfinite(e.extras[key])]
            defined[key] = members or estimates  # all NaN: the mean stays NaN
            if members and len(members) < n:
                undefined[key] = n - len(members)
    extras: dict[str, float] = {}
    for key in sorted(shared):
        if key.endswith(STDERR_SUFFIX):
            of = key.removesuffix(STDERR_SUFFIX)
            members = defined.get(of, estimates)
            values = [estimate.extras[key] for estimate in members]
            if of in shared:
                extras[key], _ = stderr_of(of, values, members)
            else:
                extras[key] = independent_stderr(values)
        else:
            members = defined[key]
            extras[key] = sum(estimate.extras[key] for estimate in members) / len(members)
            if key not in replicates:
                rows = _aligned(members, key)
                if rows is not None:
                    _, replicates[key] = jackknife_of_mean(rows)
    return AggregateValue(
        value=sum(estimate.value for estimate in estimates) / n,
        stderr=stderr,
        n_modules=n,
        extras=extras,
        stderr_method="jackknife" if jackknifed else "independent",
        replicates=replicates,
        undefined=undefined,
    )


def aggregate(
    modules: Iterable[ModuleResult], estimator_names: Iterable[str]
) -> dict[str, AggregateValue]:
    """Estimator name → mean over ``modules`` (modules lacking the estimator are skipped)."""
    module_list = list(modules)
    out: dict[str, AggregateValue] = {}
    for name in estimator_names:
        estimates = [module.estimates[name] for module in module_list if name in module.estimates]
        if estimates:
            out[name] = mean_over_modules(estimates)
    return out


@dataclass(frozen=True)
class CaptureResult:
    """Everything one capture pass measured.

    Attributes:
        estimators: estimator names, in the order requested.
        params: estimator name → parameters it ran with (k, tau, feature_map, seed, ...).
        n_tokens: number of real (unmasked) tokens seen per module.
        n_forwards: number of top-level forwards captured.
        eval_hash: sha256 (hex) of the real tokens' ids (int64, in order seen), or None if a
            forward had no ``input_ids``.
        overall: estimator → mean over all modules.
        by_module_type: module type → estimator → mean over that type's modules.
        by_layer: layer index → estimator → mean over that layer's modules.
        modules: module name → :class:`ModuleResult`.
    """

    estimators: list[str]
    params: dict[str, dict[str, Any]]
    n_tokens: int
    n_forwards: int
    eval_hash: str | None
    overall: dict[str, AggregateValue]
    by_module_type: dict[str, dict[str, AggregateValue]]
    by_layer: dict[int, dict[str, AggregateValue]]
    modules: dict[str, ModuleResult]

    @classmethod
    def from_modules(
        cls,
        modules: list[ModuleResult],
        estimators: list[str],
        n_tokens: int,
        n_forwards: int,
        eval_hash: str | None,
    ) -> CaptureResult:
        """Aggregate per-module results into layer, module-type and model values."""
        types = sorted({module.module_type for module in modules})
        layers = sorted({module.layer for module in modules if module.layer is not None})
        params = {
            name: dict(module.estimates[name].params)
            for module in modules[:1]
            for name in estimators
            if name in module.estimates
        }
        return cls(
            estimators=list(estimators),
            params=params,
            n_tokens=n_tokens,
            n_forwards=n_forwards,
            eval_hash=eval_hash,
            overall=aggregate(modules, estimators),
            by_module_type={
                kind: aggregate((m for m in modules if m.module_type == kind), estimators)
                for kind in types
            },
            by_layer={
                layer: aggregate((m for m in modules if m.layer == layer), estimators)
                for layer in layers
            },
            modules={module.name: module for module in modules},
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (layer keys become strings, as JSON requires)."""

        def table(values: Mapping[str, AggregateValue]) -> dict[str, Any]:
            return {name: value.to_dict() for name, value in values.items()}

        return {
            "estimators": list(self.estimators),
            "params": {name: dict(values) for name, values in self.params.items()},
            "n_tokens": self.n_tokens,
            "n_forwards": self.n_forwards,
            "eval_hash": self.eval_hash,
            "overall": table(self.overall),
            "by_module_type": {kind: table(v) for kind, v in self.by_module_type.items()},
            "by_layer": {str(layer): table(v) for layer, v in self.by_layer.items()},
            "modules": {name: module.to_dict() for name, module in self.modules.items()},
        }
