"""The one metric registry: every number a run reports, found by its column name.

lm-evaluation-harness style: each metric is registered once with its label, its kind, its
orientation and whether it carries a standard error. Capture flattening, the results CSV, the
analysis (which orients every metric so that lower = better before judging it), the claims and
the report all read this table; adding an estimator to :mod:`miub.estimators.registry` adds its
metrics here without touching any other layer.

Kinds (see docs/method.md §3):

* ``dependence`` — estimates how much the LoRA branch depends on the base branch; moves to its
  independence value when the pairing of the two branches is broken (a test checks this).
* ``baseline`` — a property of the branches that is *not* dependence (branch
  distinguishability, relative scale, marginal information); kept for comparison.
* ``external`` — task metrics measured outside the capture: CE, PPL, ACC, err = 1 − ACC.

Column names are registry names with ``-`` → ``_`` (``js-mi`` → ``js_mi``); a metric with a
standard error has a sibling column ``<name>_stderr``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from miub.estimators.registry import list_estimators
from miub.interface import MetricKind, MetricSpec, column_name

__all__ = [
    "MetricKind",
    "MetricSpec",
    "column_name",
    "get_metric",
    "is_metric",
    "list_metrics",
    "metric_columns",
    "metrics_in",
    "registered_values",
]

_EXTERNAL = (
    MetricSpec(
        "ce", "CE", "external", False, True, "mean_over_examples", "nats",
        "answer cross-entropy per token on held-out examples",
    ),
    MetricSpec(
        "ppl", "PPL", "external", False, False, "exp_of_mean", "perplexity",
        "exp(CE): a monotone function of CE",
    ),
    MetricSpec(
        "acc", "ACC", "external", True, True, "mean_over_examples", "probability",
        "multiple-choice accuracy (lm-evaluation-harness scoring)",
    ),
    MetricSpec(
        "acc_norm", "ACC (norm)", "external", True, True, "mean_over_examples", "probability",
        "length-normalised multiple-choice accuracy",
    ),
    MetricSpec(
        "err", "1 − ACC", "external", False, False, "mean_over_examples", "probability",
        "error rate 1 − ACC: the accuracy the metrics are compared with",
    ),
)  # fmt: skip


@cache
def _registry() -> dict[str, MetricSpec]:
    specs: dict[str, MetricSpec] = {spec.name: spec for spec in _EXTERNAL}
    for estimator in list_estimators():
        for metric in estimator.metrics():
            specs[metric.name] = metric
    return specs


def list_metrics(kind: MetricKind | Iterable[MetricKind] | None = None) -> list[MetricSpec]:
    """Registered metrics in registry order (external first), optionally of some kinds."""
    kinds = {kind} if isinstance(kind, str) else set(kind) if kind is not None else None
    return [spec for spec in _registry().values() if kinds is None or spec.kind in kinds]


def get_metric(name: str) -> MetricSpec:
    """The spec of column ``name`` (``js_mi`` or ``js-mi``); ValueError naming the choices."""
    specs = _registry()
    key = column_name(name)
    if key not in specs:
        raise ValueError(f"unknown metric {name!r}; choose one of {', '.join(specs)}")
    return specs[key]


def is_metric(name: str) -> bool:
    return column_name(name) in _registry()


def metrics_in(columns: Iterable[str]) -> list[MetricSpec]:
    """The registered metrics among ``columns`` (e.g. a results frame's), in registry order."""
    present = set(columns)
    return [spec for spec in _registry().values() if spec.name in present]


def metric_columns(names: Iterable[str]) -> list[str]:
    """CSV columns for these metrics, in registry order: each value, then its stderr."""
    wanted = {column_name(name) for name in names}
    columns: list[str] = []
    for spec in _registry().values():
        if spec.name in wanted:
            columns.append(spec.name)
            if spec.stderr_column:
                columns.append(spec.stderr_column)
    return columns


def registered_values(metrics: Mapping[str, object]) -> dict[str, object]:
    """The entries of a run's flat metrics that are registered metrics or their stderrs."""
    keep = set(metric_columns(metrics))
    return {key: value for key, value in metrics.items() if key in keep}
