"""Paired tests over seeds: is a metric stabler (NSR) or better fitted (held-out error) than
CE / PPL? (docs/method.md §5.)

Both metrics are measured on the same runs, so they are compared on the same seeds. A
replicate is a set of seed indices (n,) applied to every axis slice of both metrics at once
(column ``s % S`` of a slice with S seeds); a batch of replicates is ``draws`` (B, n). All
statistics are computed for the whole batch in one pass (:mod:`miub.analysis.scalefree`,
``*_batch``), so a bootstrap of B resamples costs a few array operations, not B loops.

The test of a comparison statistic ``T`` (log NSR ratio, or held-out error difference):

- point estimate ``T̂`` on all seeds;
- bootstrap over seeds: ``draws`` ~ uniform with replacement (B, n), the percentile CI of
  ``T*``;
- p-value: the leave-one-seed-out jackknife t-test, ``t = T̂ / se_J`` with
  ``se_J² = (n − 1)/n · Σ_i (T_(i) − T̄_(·))²`` and n − 1 degrees of freedom, two-sided.
  Null: E[T] = 0 (equal NSR / equal held-out error). With n = 5 seeds the percentile
  bootstrap is too narrow (a resample of 5 seeds has on average 3.4 distinct ones), which
  makes its inverted p anti-conservative; the jackknife-t keeps its nominal size on the demo's
  design (size simulation in tests/analysis/test_seedtests.py) and is reported beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from miub.analysis import scalefree as sf
from miub.analysis.slices import SliceData

Slices = dict[str, SliceData]
Statistic = Callable[[np.ndarray | None], np.ndarray]


def _columns(data: SliceData, draws: np.ndarray | None) -> np.ndarray:
    """The slice's runs per replicate, (B, L, n); the slice itself (1, L, S) without draws."""
    if draws is None:
        return data.y[None]
    return np.moveaxis(data.y[:, draws % data.y.shape[1]], 1, 0)  # (L, B, n) → (B, L, n)


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries of (k, B); NaN where none is finite."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def mean_nsr(data: Slices, draws: np.ndarray | None = None) -> np.ndarray:
    """Mean over slices of the finite NSRs, per replicate (B,) (shape (1,) without draws)."""
    if not data:
        return np.full(1 if draws is None else len(draws), np.nan)
    values = np.stack([sf.noise_to_signal_batch(_columns(d, draws)) for d in data.values()])
    return _finite_mean(values)


def mean_held_out(data: Slices, draws: np.ndarray | None = None) -> np.ndarray:
    """Mean of the held-out end-level errors over slices, per replicate (B,)."""
    if not data:
        return np.full(1 if draws is None else len(draws), np.nan)
    errors = [sf.held_out_errors_batch(d.x, _columns(d, draws)).T for d in data.values()]
    return _finite_mean(np.concatenate(errors))  # (2·slices, B) → (B,)


def jackknife_draws(n_seeds: int) -> np.ndarray:
    """Leave-one-seed-out index sets, shape (n, n − 1)."""
    return np.array([[s for s in range(n_seeds) if s != left] for left in range(n_seeds)])


@dataclass(frozen=True)
class SeedTest:
    """A comparison statistic ``T`` with its bootstrap CI and jackknife-t test (see module)."""

    estimate: float
    ci: tuple[float, float]
    t: float
    df: int
    p: float
    samples: np.ndarray  # (B,) bootstrap replicates of T (finite or not)


def seed_test(
    statistic: Statistic, draws: np.ndarray | None, n_seeds: int, level: float = 0.95
) -> SeedTest:
    """Test ``E[T] = 0`` for ``statistic(draws) -> (B,)`` (``None`` → the point estimate)."""
    estimate = float(statistic(None)[0])
    samples = statistic(draws) if draws is not None else np.zeros(0)
    finite = samples[np.isfinite(samples)]
    ci = (float("nan"), float("nan"))
    if finite.size:
        tail = (1.0 - level) / 2.0
        low, high = np.quantile(finite, [tail, 1.0 - tail])
        ci = (float(low), float(high))
    nan = float("nan")
    if n_seeds < 3 or not np.isfinite(estimate):
        return SeedTest(estimate, ci, nan, max(n_seeds - 1, 0), nan, samples)
    leave_out = statistic(jackknife_draws(n_seeds))
    if not np.all(np.isfinite(leave_out)):
        return SeedTest(estimate, ci, nan, n_seeds - 1, nan, samples)
    se = float(np.sqrt((n_seeds - 1) / n_seeds * ((leave_out - leave_out.mean()) ** 2).sum()))
    df = n_seeds - 1
    t = estimate / se if se > 0 else float(np.sign(estimate) * np.inf) if estimate else 0.0
    p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else (0.0 if t != 0 else 1.0)
    return SeedTest(estimate, ci, float(t), df, min(p, 1.0), samples)


def log_nsr_ratio(metric: Slices, references: dict[str, Slices]) -> Statistic:
    """T = log NSR(metric) − log min_ref NSR(ref): < 0 when the metric is stabler than every
    reference (the best reference sets the bar)."""

    def statistic(draws: np.ndarray | None) -> np.ndarray:
        mine = mean_nsr(metric, draws)
        best = np.min(np.stack([mean_nsr(r, draws) for r in references.values()]), axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where((best > 0) & (mine > 0), mine / best, np.nan)
        return np.log(ratio)

    return statistic


def held_out_difference(metric: Slices, references: dict[str, Slices]) -> Statistic:
    """T = held-out error(metric) − min_ref held-out error(ref), in seed SDs: < 0 when the
    metric fits better than every reference."""

    def statistic(draws: np.ndarray | None) -> np.ndarray:
        mine = mean_held_out(metric, draws)
        best = np.min(np.stack([mean_held_out(r, draws) for r in references.values()]), axis=0)
        return mine - best

    return statistic
