"""Fit a scaling law to a results frame, with bootstrap CIs and held-out extrapolation error.

Recipe (Hoffmann et al. 2022, App. D.2; Besiroglu et al. 2024): minimise the summed Huber
loss (δ = 1e-3) of ``log ŷ − log y`` with ``log ŷ`` a log-sum-exp (see
:mod:`miub.laws.forms`), by L-BFGS-B from the best points of a grid of starts, then bootstrap
over rows (runs): each resample is the same fit, warm-started from the point estimate and the
best grid start. Parameter CIs are bootstrap percentiles; ``stderr`` is the bootstrap SD.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from miub.errors import MiubUserError
from miub.laws.axes import axis_column, axis_logs
from miub.laws.batched import solve_batch
from miub.laws.forms import EXPONENT_BOUNDS, EXPONENTS, LawForm
from miub.laws.optimize import (
    fit_loglinear,
    grid_starts,
    minimise,
    objective,
    score_starts,
)
from miub.laws.result import FitResult

Grid = Mapping[str, Sequence[float]]
# Batched descent steps from every start before the best end point is polished by L-BFGS-B:
# enough to tell the basins apart, not to converge in each.
_START_ITERATIONS = 60


def fit(
    frame: pd.DataFrame,
    y: str,
    axes: Sequence[str],
    form: str = "additive",
    bootstrap: int = 1000,
    seed: int = 0,
    starts: Grid | None = None,
    n_local: int = 8,
    ci_level: float = 0.95,
) -> FitResult:
    """Fit ``y`` as a law of ``axes`` over the rows of ``frame`` (every row is one point).

    Args:
        frame: one row per run; needs ``y`` and the axis columns (``N``→``n_params``,
            ``R``→``rank``, ``D``→``data_size``, or a literal column name).
        y: the metric column (must be > 0 for every form but ``loglinear``).
        axes: one to three axis names.
        form: ``additive`` (E + Σ A_i X_i^−α_i; one axis: E + A·X^−α), ``multiplicative``,
            ``power`` or ``loglinear``.
        bootstrap: resamples of rows for the CIs (0 to skip).
        seed: seed of the bootstrap resampling.
        starts: grid of starts per internal parameter (``e``, ``a``, ``alpha``, ``b``, …);
            default: a grid scaled to the data (see :func:`default_starts`).
        n_local: L-BFGS-B runs, from the best-scoring grid points.
        ci_level: coverage of the percentile intervals.

    Rows with a missing ``y`` or axis value are dropped (the message says how many).
    """
    if y not in frame.columns:
        raise MiubUserError(f"no column {y!r} in the results")
    if not axes:
        raise MiubUserError("a law needs at least one axis")
    law = LawForm(form, len(axes))
    columns = [axis_column(frame, axis) for axis in axes]
    logx_all = axis_logs(frame, columns)
    values = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(values) & np.all(np.isfinite(logx_all), axis=1)
    dropped = int(np.sum(~keep))
    logx, values = logx_all[keep], values[keep]
    if law.in_log_space and np.any(values <= 0):
        raise MiubUserError(
            f"column {y!r} has non-positive values; the {form} law is fitted to log({y})"
        )
    target = np.log(values) if law.in_log_space else values
    note = f"; dropped {dropped} rows with missing values" if dropped else ""
    result = FitResult(
        form=form,
        axes=list(axes),
        columns=columns,
        y=y,
        params={name: float("nan") for name in law.public_params(np.zeros(law.n_params))},
        status="too_few_points",
        message="",
        n_points=len(values),
        ci_level=ci_level,
    )
    shortage = _shortage(law, logx, columns)
    if shortage:
        result.message = shortage + note
        return result

    candidates = _candidate_starts(law, logx, target, starts)
    theta, loss, converged, detail = _fit_once(law, logx, target, candidates[:n_local], None)
    result.theta_ = theta
    result.params = law.public_params(theta)
    result.loss = loss
    result.residuals = law.predict(theta, logx) - target
    result.status = "converged" if converged else "failed"
    result.message = detail + note
    degenerate = _degenerate(law, theta, target)
    if bootstrap > 0 and converged and degenerate:
        result.message += f"; no bootstrap: {degenerate}"
    elif bootstrap > 0 and converged:
        _bootstrap(result, law, logx, target, theta, bootstrap, seed)
    return result


# A floor E below this fraction of the smallest value is at its bound E = 0 for all practical
# purposes (log E has only a numerical guard, LOG_BOUNDS, far below it).
_FLOOR_AT_ZERO = 1e-6


def _degenerate(law: LawForm, theta: np.ndarray, target: np.ndarray) -> str:
    """Why a saturating fit sits on a boundary of its parameter space, or '' if it does not.

    At a boundary the percentile bootstrap is inconsistent (Andrews 2000, Econometrica 68,
    "Inconsistency of the bootstrap when a parameter is on the boundary of the parameter
    space"), so no CI is given: with an exponent at 0 the term A·X^0 = A trades off
    one-for-one against the floor E (only E + A is identified; the metric does not decrease
    along the axis); with an exponent at its cap the law is a step; with E at 0 the law is a
    pure power law on these points and E's interval would only map the flat valley below it.
    """
    if law.name not in ("additive", "multiplicative"):
        return ""
    low, high = EXPONENT_BOUNDS
    reasons = []
    for name, value in zip(law.theta_names, theta, strict=True):
        if name in EXPONENTS and value <= low + 1e-9:
            reasons.append(f"{name} at its bound {low:g} (E and the scale not identified)")
        elif name in EXPONENTS and value >= high - 1e-9:
            reasons.append(f"{name} at its cap {high:g} (a step)")
    if np.exp(theta[0]) < _FLOOR_AT_ZERO * float(np.exp(np.min(target))):
        reasons.append("E at its bound 0 (a pure power law on these points)")
    return "; ".join(reasons)


def _shortage(law: LawForm, logx: np.ndarray, columns: list[str]) -> str:
    """Why the points cannot determine the law, or '' if they can."""
    for i, column in enumerate(columns):
        levels = len(np.unique(logx[:, i]))
        if levels < 2:
            return f"{column} has {levels} level(s); a law needs at least 2"
    distinct = len(np.unique(logx, axis=0))
    if distinct < law.n_params:
        return (
            f"{distinct} distinct design points for a {law.n_params}-parameter {law.name} law "
            f"over {', '.join(columns)}"
        )
    return ""


def default_starts(law: LawForm, logx: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A grid of starts scaled to the data, shape (n_starts, n_params).

    Floors E at {1 %, 50 %, 90 %} of min y; exponents in {0, 0.5, 1, 2}; each scale chosen so
    its term equals {5 %, 30 %, 100 %} of the median y at the geometric-mean axis value.
    """
    y = np.exp(target)
    log_floor = np.log(np.min(y) * np.array([0.01, 0.5, 0.9]))
    log_level = np.log(np.median(y) * np.array([0.05, 0.3, 1.0]))
    exponents = np.array([0.0, 0.5, 1.0, 2.0])
    centre = logx.mean(axis=0)
    k = law.n_axes
    rows: list[list[float]] = []
    if law.name == "additive":
        pairs = [
            [(level + alpha * centre[i], alpha) for level in log_level for alpha in exponents]
            for i in range(k)
        ]
        for e in log_floor:
            for combo in _product(pairs):
                rows.append([e, *[v for pair in combo for v in pair]])
    elif law.name == "multiplicative":
        for e in log_floor:
            for alphas in _product([list(exponents)] * k):
                for level in log_level:
                    rows.append([e, level + float(np.dot(alphas, centre)), *alphas])
    return np.asarray(rows, dtype=float)


def _product(options: list[list[Any]]) -> list[tuple[Any, ...]]:
    return list(itertools.product(*options))


def _candidate_starts(
    law: LawForm, logx: np.ndarray, target: np.ndarray, starts: Grid | None
) -> np.ndarray:
    """Starts sorted by their loss, best first."""
    if law.name in ("power", "loglinear"):
        # Linear in θ (in log space for power): least squares is the natural start.
        solution = fit_loglinear(logx, target)
        if law.name == "power":
            solution = np.concatenate([solution[:1], -solution[1:]])
        return solution[None, :]
    grid = grid_starts(law, starts) if starts is not None else default_starts(law, logx, target)
    scores = score_starts(law, grid, logx, target)
    return grid[np.argsort(scores, kind="stable")]


def _fit_once(
    law: LawForm,
    logx: np.ndarray,
    target: np.ndarray,
    starts: np.ndarray,
    weights: np.ndarray | None,
) -> tuple[np.ndarray, float, bool, str]:
    """One fit: (theta, loss, converged, message)."""
    if law.name == "loglinear":
        theta = fit_loglinear(logx, target, weights)
        converged = bool(np.all(np.isfinite(theta)))
        return theta, objective(law, theta, logx, target, weights), converged, "least squares"
    # All starts descend together (batched Levenberg–Marquardt); L-BFGS-B then polishes the
    # best end point and gives the convergence status.
    rows = (
        np.ones((len(starts), len(target)))
        if weights is None
        else np.tile(weights, (len(starts), 1))
    )
    ends, _ = solve_batch(law, starts, logx, target, rows, max_iterations=_START_ITERATIONS)
    losses = [objective(law, theta, logx, target, weights) for theta in ends]
    best = ends[int(np.nanargmin(losses))] if np.any(np.isfinite(losses)) else starts[0]
    optimum = minimise(law, best[None, :], logx, target, weights)
    loss = objective(law, optimum.theta, logx, target, weights)
    return optimum.theta, loss, optimum.converged, f"L-BFGS-B: {optimum.message}"


_BOOTSTRAP_ITERATIONS = 200  # cap per unsettled resample (see _bootstrap)


def _bootstrap(
    result: FitResult,
    law: LawForm,
    logx: np.ndarray,
    target: np.ndarray,
    start: np.ndarray,
    n_resamples: int,
    seed: int,
) -> None:
    """Resample rows with replacement (as multiplicity weights); fill ci, stderr, samples.

    All resamples are solved together from the point estimate (:mod:`miub.laws.batched`);
    any that do not settle (a few per cent, in flat valleys) are finished singly by
    L-BFGS-B from where the batch left them, and dropped if that fails too. Resamples with
    too few distinct points for the law are skipped.
    """
    rng = np.random.default_rng(seed)
    n = len(target)
    counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(n_resamples)])
    weights = counts.astype(float)  # (B, n)
    distinct = np.array([len(np.unique(logx[row > 0], axis=0)) for row in weights])
    weights = weights[distinct >= law.n_params]
    thetas, settled = solve_batch(law, start, logx, target, weights)
    for b in np.flatnonzero(~settled):
        optimum = minimise(
            law, thetas[b : b + 1], logx, target, weights[b], max_iterations=_BOOTSTRAP_ITERATIONS
        )
        thetas[b] = optimum.theta
        settled[b] = optimum.converged and bool(np.all(np.isfinite(optimum.theta)))
    samples = thetas[settled]
    result.n_bootstrap = len(samples)
    if len(samples) == 0:
        return
    result.bootstrap_theta_ = samples
    public = [law.public_params(theta) for theta in samples]
    tail = 100 * (1 - result.ci_level) / 2
    for name in result.params:
        column = np.array([p[name] for p in public])
        low, high = np.percentile(column, [tail, 100 - tail])
        result.ci[name] = (float(low), float(high))
        result.stderr[name] = float(np.std(column, ddof=1)) if len(column) > 1 else float("nan")


def extrapolation_error(
    frame: pd.DataFrame,
    y: str,
    axis: str,
    form: str = "additive",
    axes: Sequence[str] | None = None,
    **fit_options: object,
) -> float:
    """Mean absolute relative error |ŷ − ȳ| / |ȳ| at the largest level of ``axis``, fitted
    without it; ȳ is the mean over seeds of each held-out cell (a unique combination of the
    law's axes). NaN when the remaining points cannot determine the law.
    """
    law_axes = list(axes) if axes is not None else [axis]
    column = axis_column(frame, axis)
    levels = pd.to_numeric(frame[column], errors="coerce")
    largest = levels.max()
    train = frame[levels < largest]
    test = frame[levels == largest]
    fit_options.setdefault("bootstrap", 0)
    result = fit(train, y, law_axes, form, **fit_options)  # type: ignore[arg-type]
    if not result.ok or test.empty:
        return float("nan")
    columns = [axis_column(frame, a) for a in law_axes]
    cells = test.groupby(columns, as_index=False)[y].mean()
    predicted = result.predict(cells)
    actual = cells[y].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        errors = np.abs(predicted - actual) / np.abs(actual)
    return float(np.nanmean(errors)) if np.any(np.isfinite(errors)) else float("nan")
