"""Per-metric statistics: laws along each axis, monotonicity, seed stability, ACC alignment.

All computed on runs, never on averaged seeds, except where a cell mean is the point
(fluctuation, law error against cell means). Definitions (docs/method.md §5):

- Spearman ρ of metric vs axis on the axis slice (all seeds).
- Log-linear slope b of ``y = a + b·log X`` with a bootstrap CI over runs: the sign test of
  "decreases with X".
- Law error: mean over levels of |ŷ − ȳ| / |ȳ| with ŷ the fitted ``E + A·X^−α`` and ȳ the
  cell mean; extrapolation error: the same at the largest level, fitted without it.
- Fluctuation: max / min of the cell means along the axis (the paper's "CE fluctuated 571×");
  change: (ȳ_last − ȳ_first) / ȳ_first from the smallest to the largest level (both only
  for positive metrics).
- NSR: noise-to-signal ratio of the oriented, ranked metric (miub.analysis.scalefree).
- Alignment: Spearman ρ of the metric with err = 1 − ACC across runs (lower-is-better
  metrics should have ρ > 0), with a bootstrap CI over runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from miub import laws
from miub.analysis.design import AxisSlice, cell_means
from miub.analysis.results import Metric
from miub.errors import MiubUserError
from miub.laws import FitResult

AXIS_FORMS = ("additive", "power", "loglinear")


@dataclass
class AxisStats:
    """One metric along one axis slice."""

    metric: str
    axis: str
    description: str
    n_points: int
    n_levels: int
    spearman: float
    spearman_p: float
    slope: float
    slope_ci: tuple[float, float]
    law_error: float
    extrapolation_error: float
    fluctuation: float
    change: float
    fits: dict[str, FitResult]
    notes: list[str] = field(default_factory=list)


@dataclass
class MetricStats:
    """Everything measured about one metric."""

    metric: Metric
    nsr: float  # noise-to-signal ratio on oriented within-slice ranks, mean over axes
    alignment: float  # within-slice Spearman ρ of the oriented metric with 1 − ACC
    alignment_ci: tuple[float, float]
    n_aligned_runs: int
    axes: dict[str, AxisStats]


def bootstrap_spearman(
    x: np.ndarray, y: np.ndarray, n_resamples: int, seed: int, level: float = 0.95
) -> tuple[float, tuple[float, float]]:
    """Spearman ρ and its bootstrap percentile CI (resampling pairs)."""
    rho = float(stats.spearmanr(x, y).statistic) if len(x) > 2 else float("nan")
    if n_resamples <= 0 or len(x) < 4 or not np.isfinite(rho):
        return rho, (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(x), (n_resamples, len(x)))
    rx = stats.rankdata(x[index], axis=1)
    ry = stats.rankdata(y[index], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        rhos = (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    rhos = rhos[np.isfinite(rhos)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(rhos, [tail, 100 - tail]) if rhos.size else (np.nan, np.nan)
    return rho, (float(low), float(high))


def axis_stats(
    piece: AxisSlice, metric: str, bootstrap: int, seed: int, forms: tuple[str, ...] = AXIS_FORMS
) -> AxisStats:
    """Laws, slope, monotonicity and fluctuation of ``metric`` along one slice."""
    rows = piece.rows[np.isfinite(piece.rows[metric].to_numpy(float))]
    column = piece.column
    notes: list[str] = []
    fits: dict[str, FitResult] = {}
    for form in forms:
        try:
            fits[form] = laws.fit(rows, metric, [piece.axis], form, bootstrap=bootstrap, seed=seed)
        except MiubUserError as error:
            notes.append(f"{form}: {error}")
    for form, result in fits.items():
        if not result.ok:
            notes.append(f"{form}: {result.status} ({result.message})")
    x, y = rows[column].to_numpy(float), rows[metric].to_numpy(float)
    enough = len(np.unique(x)) >= 2 and len(x) >= 3
    rho, p_value = stats.spearmanr(x, y) if enough else (np.nan, np.nan)
    linear = fits.get("loglinear")
    slope = linear.params["b"] if linear is not None and linear.ok else float("nan")
    slope_ci = linear.ci.get("b", (np.nan, np.nan)) if linear is not None else (np.nan, np.nan)
    means = cell_means(rows, metric, column)
    law_error = _law_error(fits.get("additive"), means, metric, column)
    extrapolation = float("nan")
    if "additive" in fits:
        extrapolation = laws.extrapolation_error(rows, metric, piece.axis, "additive")
    first, last = means["mean"].iloc[0], means["mean"].iloc[-1]
    lowest, highest = means["mean"].min(), means["mean"].max()
    return AxisStats(
        metric=metric,
        axis=piece.axis,
        description=piece.describe(),
        n_points=len(rows),
        n_levels=len(means),
        spearman=float(rho),
        spearman_p=float(p_value),
        slope=float(slope),
        slope_ci=(float(slope_ci[0]), float(slope_ci[1])),
        law_error=law_error,
        extrapolation_error=extrapolation,
        fluctuation=float(highest / lowest) if lowest > 0 else float("nan"),
        change=float((last - first) / first) if lowest > 0 else float("nan"),
        fits=fits,
        notes=notes,
    )


def _law_error(fit: FitResult | None, means: pd.DataFrame, metric: str, column: str) -> float:
    if fit is None or not fit.ok:
        return float("nan")
    predicted = fit.predict(means.rename(columns={"mean": metric}))
    actual = means["mean"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.nanmean(np.abs(predicted - actual) / np.abs(actual)))


def alignment(
    frame: pd.DataFrame, metric: str, bootstrap: int, seed: int
) -> tuple[float, tuple[float, float], int]:
    """Spearman ρ(metric, err) across runs with its CI, and the number of runs used."""
    if "err" not in frame.columns or metric == "err":
        return float("nan"), (float("nan"), float("nan")), 0
    pairs = frame[[metric, "err"]].dropna()
    x, y = pairs[metric].to_numpy(float), pairs["err"].to_numpy(float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), (float("nan"), float("nan")), len(x)
    rho, ci = bootstrap_spearman(x, y, bootstrap, seed)
    return rho, ci, len(x)
