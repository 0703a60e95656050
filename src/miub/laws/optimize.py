"""Minimise the summed Huber loss of log residuals with L-BFGS-B from a grid of starts.

The objective of Hoffmann et al. (2022, eq. 2/D.2), as re-run by Besiroglu et al. (2024):

    L(θ) = Σ_i Huber_δ(log ŷ_θ(x_i) − log y_i),   δ = 1e-3,
    Huber_δ(r) = r²/2 if |r| ≤ δ else δ(|r| − δ/2).

It is summed, not averaged. Internally the optimiser sees L/δ (same minimiser, gradients of
order one); reported losses are L. A vectorised pass scores every grid start and L-BFGS-B
runs from the best few, because with δ this small the loss is almost an L1 loss with many
shallow basins and the starting point decides which one is found.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from miub.laws.forms import LawForm

HUBER_DELTA = 1e-3
_OPTIONS = {"maxiter": 5000, "maxfun": 20000, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20}
# L-BFGS-B often stops with a line-search warning at an optimum of a kinked loss; accept that
# when the projected gradient of L/δ is this small per point.
_GRADIENT_OK = 1e-4


def huber(residuals: np.ndarray, delta: float = HUBER_DELTA) -> np.ndarray:
    """Elementwise Huber loss."""
    absolute = np.abs(residuals)
    return np.where(absolute <= delta, 0.5 * residuals**2, delta * (absolute - 0.5 * delta))


def objective(
    form: LawForm,
    theta: np.ndarray,
    logx: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
) -> float:
    """The reported loss: summed Huber of log residuals (log-space forms), or half the summed
    squared residuals (log-linear); ``weights`` count repeated rows."""
    residuals = form.predict(theta, logx) - target
    losses = huber(residuals) if form.in_log_space else 0.5 * residuals**2
    return float(np.sum(losses if weights is None else weights * losses))


def _scaled_loss_and_gradient(
    theta: np.ndarray, form: LawForm, logx: np.ndarray, target: np.ndarray, weights: np.ndarray
) -> tuple[float, np.ndarray]:
    pred, jac = form.predict_with_gradient(theta, logx)
    r = (pred - target) * (1.0 / HUBER_DELTA)
    dloss = np.clip(r, -1.0, 1.0)
    # Huber/δ² is r²/2 inside and |r| − 1/2 outside: both are dloss·r − dloss²/2. The
    # optimiser minimises Huber/δ, whose gradient is Σ dloss · ∂pred/∂θ.
    loss = (dloss * r - 0.5 * dloss * dloss) * HUBER_DELTA
    return float(weights @ loss), (weights * dloss) @ jac


@dataclass
class Optimum:
    """Best local optimum found: internal parameters, reported loss, convergence."""

    theta: np.ndarray
    loss: float
    converged: bool
    message: str


def grid_starts(form: LawForm, grid: Mapping[str, Sequence[float]]) -> np.ndarray:
    """All combinations of a grid given per internal parameter name, shape (n_starts, p)."""
    missing = [name for name in form.theta_names if name not in grid]
    if missing:
        raise ValueError(f"grid of starts lacks {missing} for form {form.name}")
    axes = [np.asarray(grid[name], dtype=float) for name in form.theta_names]
    return np.array(list(itertools.product(*axes)), dtype=float)


def score_starts(
    form: LawForm, starts: np.ndarray, logx: np.ndarray, target: np.ndarray, chunk: int = 512
) -> np.ndarray:
    """Reported loss at each start (vectorised in chunks), shape (n_starts,)."""
    scores = np.empty(len(starts))
    for begin in range(0, len(starts), chunk):
        block = starts[begin : begin + chunk]
        preds, _ = form.predict_batch(block, logx)  # (b, n)
        residuals = preds - target[None, :]
        scores[begin : begin + chunk] = np.sum(huber(residuals), axis=1)
    return np.where(np.isfinite(scores), scores, np.inf)


def minimise(
    form: LawForm,
    starts: np.ndarray,
    logx: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray | None = None,
    max_iterations: int | None = None,
) -> Optimum:
    """Run L-BFGS-B from each start; return the best optimum (``weights`` count repeated rows).

    ``max_iterations`` caps L-BFGS-B's iterations (default: the tight point-fit settings); the
    bootstrap uses a lower cap, since a resample stuck in a flat valley must not stall it.
    """
    w = np.ones(len(target)) if weights is None else weights
    options = dict(_OPTIONS)
    if max_iterations is not None:
        options.update(maxiter=max_iterations, maxfun=4 * max_iterations)
    best: Optimum | None = None
    for start in starts:
        result = minimize(
            _scaled_loss_and_gradient,
            start,
            args=(form, logx, target, w),
            jac=True,
            method="L-BFGS-B",
            bounds=form.bounds(),
            options=options,
        )
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            continue
        gradient = _projected_gradient(form, result.x, result.jac)
        converged = bool(result.success) or gradient <= _GRADIENT_OK * max(1, len(target))
        message = str(result.message)
        loss = float(result.fun) * HUBER_DELTA if form.in_log_space else float(result.fun)
        if best is None or loss < best.loss:
            best = Optimum(result.x.copy(), loss, converged, message)
    if best is None:
        return Optimum(np.full(form.n_params, np.nan), np.inf, False, "no start gave a finite loss")
    return best


def _projected_gradient(form: LawForm, theta: np.ndarray, gradient: np.ndarray) -> float:
    """Largest gradient component not pushing against an active bound."""
    g = np.asarray(gradient, dtype=float).copy()
    for i, (low, high) in enumerate(form.bounds()):
        if low is not None and theta[i] <= low + 1e-12 and g[i] > 0:
            g[i] = 0.0
        if high is not None and theta[i] >= high - 1e-12 and g[i] < 0:
            g[i] = 0.0
    return float(np.max(np.abs(g))) if g.size else 0.0


def fit_loglinear(logx: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Least squares for ``y = a + Σ b_i log X_i`` (closed form), returns [a, b_1, …]."""
    design = np.column_stack([np.ones(len(y)), logx])
    w = np.ones(len(y)) if weights is None else weights
    root = np.sqrt(w)[:, None]
    solution, *_ = np.linalg.lstsq(design * root, y * root[:, 0], rcond=None)
    return np.asarray(solution)
