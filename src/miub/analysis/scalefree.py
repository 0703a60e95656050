"""Oriented, rank-based statistics of one metric along one axis slice (docs/method.md §5).

Every judged metric is first oriented by the registry (``spec.orient``: lower = better) and
then replaced by its ranks over the runs of the slice (average ranks for ties). All statistics
below are computed on those ranks, so they are unchanged under any strictly increasing map of
the metric — an affine ``a + b·y`` with b > 0, or CE → PPL = exp(CE) — and a higher-is-better
metric and its negation get identical numbers.

A slice is a matrix ``Y`` (L, S): L levels of the axis, S seeds (NaN where a run is missing),
with ``x`` (L,) = log of the levels. With ``m_l`` the cell means, ``n_l`` the seeds per level,
``s_p = sqrt(Σ_l (n_l − 1)·s_l² / Σ_l (n_l − 1))`` the pooled within-cell seed SD:

- noise-to-signal ratio ``NSR = s_p / SD_l(m_l)`` (lower = stabler);
- ``η² = SS_between / SS_total`` (share of the variance explained by the level);
- Kendall's ``W`` of the level rankings given by the seeds with every level present:
  ``W = 12·Σ_l (R_l − R̄)² / (m²·(L³ − L))`` with R_l the rank sums over m seeds;
- trend: OLS slope ``b`` of y on x over all runs, t = b / se(b) with n − 2 df, two-sided p;
  effect = b·(x_max − x_min) / s_p, the fitted change across the axis in seed SDs;
- held-out error: for each end level (lowest, highest), the log-linear OLS fitted on the
  runs of the other levels (≥ 2 of them) predicts the held-out level; its error
  |ŷ − m_end| / s_p is in noise units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def slice_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1 = lowest) of the finite entries of ``values`` (L, S); NaN stays NaN."""
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    out[finite] = stats.rankdata(values[finite])
    return out


def pooled_seed_sd(y: np.ndarray) -> float:
    """Pooled within-level SD (ddof 1 per level) of ``y`` (L, S); NaN without replicates."""
    n = np.isfinite(y).sum(axis=1)
    use = n >= 2
    if not use.any():
        return float("nan")
    variances = np.nanvar(y[use], axis=1, ddof=1)
    dof = n[use] - 1
    return float(np.sqrt((dof * variances).sum() / dof.sum()))


def noise_to_signal(y: np.ndarray) -> float:
    """``s_p / SD(cell means)``; inf when the cell means are all equal."""
    means = _cell_means(y)
    if means.size < 2:
        return float("nan")
    signal = float(np.std(means, ddof=1))
    noise = pooled_seed_sd(y)
    if not np.isfinite(noise):
        return float("nan")
    return noise / signal if signal > 0 else float("inf")


def eta_squared(y: np.ndarray) -> float:
    """Between-level sum of squares ÷ total sum of squares over the finite runs."""
    finite = np.isfinite(y)
    grand = y[finite].mean()
    total = float(((y[finite] - grand) ** 2).sum())
    n = finite.sum(axis=1)
    means = np.where(n > 0, np.nansum(y, axis=1) / np.maximum(n, 1), 0.0)
    between = float((n * (means - grand) ** 2).sum())
    return between / total if total > 0 else float("nan")


def kendall_w(y: np.ndarray) -> float:
    """Kendall's W of the level rankings by the seeds that have every level (NaN if < 2)."""
    complete = y[:, np.all(np.isfinite(y), axis=0)]  # (L, m)
    levels, raters = complete.shape
    if raters < 2 or levels < 2:
        return float("nan")
    ranks = np.apply_along_axis(stats.rankdata, 0, complete)  # (L, m)
    sums = ranks.sum(axis=1)
    spread = float(((sums - sums.mean()) ** 2).sum())
    return 12.0 * spread / (raters**2 * (levels**3 - levels))


@dataclass(frozen=True)
class Trend:
    """OLS slope of the (ranked) metric on log X with its t-test and effect in seed SDs."""

    slope: float
    t: float
    df: int
    p: float
    effect: float  # fitted change from the lowest to the highest level, in pooled seed SDs


def trend(x: np.ndarray, y: np.ndarray) -> Trend:
    """The slope test on all finite runs of ``y`` (L, S) against ``x`` (L,)."""
    xs = np.broadcast_to(x[:, None], y.shape)[np.isfinite(y)]
    ys = y[np.isfinite(y)]
    df = len(ys) - 2
    if df < 1 or np.ptp(xs) == 0:
        return Trend(float("nan"), float("nan"), max(df, 0), float("nan"), float("nan"))
    xc = xs - xs.mean()
    slope = float((xc * (ys - ys.mean())).sum() / (xc**2).sum())
    residual = ys - ys.mean() - slope * xc
    sigma2 = float((residual**2).sum() / df)
    se = np.sqrt(sigma2 / (xc**2).sum())
    t = slope / se if se > 0 else (np.inf if slope != 0 else 0.0) * np.sign(slope)
    p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else (0.0 if t != 0 else 1.0)
    noise = pooled_seed_sd(y)
    effect = slope * float(np.ptp(xs)) / noise if noise > 0 else float("nan")
    return Trend(slope, float(t), df, p, float(effect))


def held_out_errors(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """``{"low": e, "high": e}``: leave-one-end-level-out error of the log-linear law in seed
    SDs; empty when the slice has fewer than 3 levels with runs or no seed replicates."""
    present = np.isfinite(y).any(axis=1)
    order = np.flatnonzero(present)
    noise = pooled_seed_sd(y)
    if order.size < 3 or not np.isfinite(noise) or noise <= 0:
        return {}
    out: dict[str, float] = {}
    for end, held in (("low", order[0]), ("high", order[-1])):
        keep = np.ones(len(x), dtype=bool)
        keep[held] = False
        fit_y = y[keep]
        fit_x = np.broadcast_to(x[keep][:, None], fit_y.shape)[np.isfinite(fit_y)]
        values = fit_y[np.isfinite(fit_y)]
        slope, intercept = np.polyfit(fit_x, values, 1)
        predicted = intercept + slope * x[held]
        out[end] = float(abs(predicted - np.nanmean(y[held])) / noise)
    return out


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman ρ of paired finite entries (NaN with < 3 pairs or a constant side)."""
    use = np.isfinite(a) & np.isfinite(b)
    if use.sum() < 3 or np.ptp(a[use]) == 0 or np.ptp(b[use]) == 0:
        return float("nan")
    return float(stats.spearmanr(a[use], b[use]).statistic)


def _cell_means(y: np.ndarray) -> np.ndarray:
    present = np.isfinite(y).any(axis=1)
    return np.nanmean(y[present], axis=1)
