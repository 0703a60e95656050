"""Results of a capture pass and their aggregation over modules (METHOD.md §3, last part).

Aggregation: per module → per layer (mean of the layer's modules) → model (mean over all
modules, not over layers) and per module type (attention vs FFN). The standard error of a mean
of n module values is ``sqrt(sum_m se_m**2) / n``, which treats the modules' errors as
independent. They are not (all modules see the same tokens), so this is an approximation that
usually understates the error of the model-level value; use it to compare runs evaluated on the
same tokens, not as a confidence interval on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from miub.interface import EstimateResult


@dataclass(frozen=True)
class AggregateValue:
    """Mean of one estimator over a group of modules.

    Attributes:
        value: mean of the modules' values (units of the estimator, usually nats).
        stderr: ``sqrt(sum se_m**2) / n`` (independence approximation, see module docstring).
        n_modules: number of modules averaged.
        extras: the same mean for every secondary value the estimator reports (``*_stderr``
            extras are combined like ``stderr``).
    """

    value: float
    stderr: float
    n_modules: int
    extras: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "stderr": self.stderr,
            "n_modules": self.n_modules,
            "extras": dict(self.extras),
        }


@dataclass(frozen=True)
class ModuleResult:
    """All estimators on one LoRA module.

    Attributes:
        name: dotted module name, e.g. ``"model.layers.0.self_attn.q_proj"``.
        layer: block index or None; module_type: ``"attention"`` / ``"ffn"`` / ``"other"``.
        out_features: ``d`` of the module output.
        n_updates: number of forwards that reached this module (once per forward, also under
            gradient checkpointing).
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


def _combine_stderr(errors: list[float]) -> float:
    return math.sqrt(sum(error * error for error in errors)) / len(errors)


def mean_over_modules(estimates: list[EstimateResult]) -> AggregateValue:
    """Average one estimator over modules; stderr by the independence approximation."""
    n = len(estimates)
    extras: dict[str, float] = {}
    shared_keys = set.intersection(*(set(estimate.extras) for estimate in estimates))
    for key in sorted(shared_keys):
        values = [estimate.extras[key] for estimate in estimates]
        extras[key] = _combine_stderr(values) if key.endswith("_stderr") else sum(values) / n
    return AggregateValue(
        value=sum(estimate.value for estimate in estimates) / n,
        stderr=_combine_stderr([estimate.stderr for estimate in estimates]),
        n_modules=n,
        extras=extras,
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
