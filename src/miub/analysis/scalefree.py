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


# Batched forms over replicates: ``y`` is (B, L, S), one (L, S) slice per replicate (e.g. a
# bootstrap resample of its seed columns). Each equals the single-slice function above on
# every replicate (same masked sums in the same order; tests check it to 1e-12).


def pooled_seed_sd_batch(y: np.ndarray) -> np.ndarray:
    """:func:`pooled_seed_sd` of each replicate of ``y`` (B, L, S), shape (B,)."""
    finite = np.isfinite(y)
    n = finite.sum(axis=-1)  # (B, L)
    filled = np.where(finite, y, 0.0)
    mean = filled.sum(axis=-1, keepdims=True) / np.maximum(n, 1)[..., None]
    deviation = np.where(finite, y - mean, 0.0)
    variance = (deviation * deviation).sum(axis=-1) / np.maximum(n - 1, 1)  # (B, L)
    dof = np.where(n >= 2, n - 1, 0)
    total = dof.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.sqrt(np.where(dof > 0, dof * variance, 0.0).sum(axis=-1) / total)
    return np.where(total > 0, pooled, np.nan)


def _cell_means_batch(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell means (B, L) (NaN where a level has no run) and the presence mask (B, L)."""
    finite = np.isfinite(y)
    n = finite.sum(axis=-1)
    means = np.where(finite, y, 0.0).sum(axis=-1) / np.maximum(n, 1)
    return np.where(n > 0, means, np.nan), n > 0


def noise_to_signal_batch(y: np.ndarray) -> np.ndarray:
    """:func:`noise_to_signal` of each replicate of ``y`` (B, L, S), shape (B,)."""
    means, present = _cell_means_batch(y)
    levels = present.sum(axis=-1)  # (B,)
    filled = np.where(present, means, 0.0)
    centre = filled.sum(axis=-1, keepdims=True) / np.maximum(levels, 1)[:, None]
    deviation = np.where(present, means - centre, 0.0)
    signal = np.sqrt((deviation * deviation).sum(axis=-1) / np.maximum(levels - 1, 1))
    noise = pooled_seed_sd_batch(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(signal > 0, noise / signal, np.inf)
    return np.where((levels >= 2) & np.isfinite(noise), ratio, np.nan)


def held_out_errors_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`held_out_errors` of each replicate of ``y`` (B, L, S) against ``x`` (L,):
    shape (B, 2) (low end, high end), NaN where the replicate has no held-out error."""
    means, present = _cell_means_batch(y)  # (B, L)
    batch, levels = present.shape
    noise = pooled_seed_sd_batch(y)
    usable = (present.sum(axis=-1) >= 3) & np.isfinite(noise) & (noise > 0)
    position = np.arange(levels)
    low = np.where(present, position, levels).min(axis=-1)  # (B,) first level with runs
    high = np.where(present, position, -1).max(axis=-1)  # (B,) last level with runs
    finite = np.isfinite(y)
    xs = np.broadcast_to(x[None, :, None], y.shape)
    out = np.full((batch, 2), np.nan)
    rows = np.arange(batch)
    for column, held in enumerate((low, high)):
        held = np.clip(held, 0, levels - 1)
        weight = finite & (position[None, :] != held[:, None])[:, :, None]  # (B, L, S)
        count = np.maximum(weight.sum(axis=(1, 2)), 1)
        x_mean = np.where(weight, xs, 0.0).sum(axis=(1, 2)) / count
        y_mean = np.where(weight, y, 0.0).sum(axis=(1, 2)) / count
        dx = np.where(weight, xs - x_mean[:, None, None], 0.0)
        dy = np.where(weight, y - y_mean[:, None, None], 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = (dx * dy).sum(axis=(1, 2)) / (dx * dx).sum(axis=(1, 2))
            predicted = y_mean + slope * (x[held] - x_mean)
            error = np.abs(predicted - means[rows, held]) / noise
        out[:, column] = np.where(usable, error, np.nan)
    return out
