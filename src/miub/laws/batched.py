"""Solve many weighted Huber fits at once: the bootstrap resamples of one law.

Each resample b minimises L_b(θ) = Σ_i w_bi Huber_δ(r_i(θ)), r = log ŷ_θ − log y, with
``w_bi`` the multiplicity of row i in the resample. All resamples advance together by
Levenberg–Marquardt steps on the IRLS form of the Huber loss (the M-estimator iteration of
Huber 1981, §7.8): with ψ = clip(r, −δ, δ) and IRLS weights ω = ψ/r,

    g = Σ_i w_i ψ_i J_i,   H = Σ_i w_i ω_i J_i J_iᵀ,   Δ = −(H + λ·diag H)⁻¹ g,

accepting a step only where it lowers L_b (then λ ÷ 3, else λ × 4), and projecting onto the
parameter bounds. A fixed point has g = 0, so it is the Huber optimum that L-BFGS-B finds;
the batch costs one vectorised pass per iteration instead of a Python-level solver per
resample. Resamples that do not settle are reported so the caller can re-fit them singly.
"""

from __future__ import annotations

import numpy as np

from miub.laws.forms import LawForm
from miub.laws.optimize import HUBER_DELTA, huber

_MAX_ITERATIONS = 1000
_STEP_TOLERANCE = 1e-10
# Relative loss decrease below which an accepted step counts as converged (a drift along a
# flat direction, e.g. E → 0, changes the loss by less than this).
_GAIN_TOLERANCE = 1e-12
_LOSS_FLOOR = 1e-12
_LAMBDA_GIVE_UP = 1e12


def _losses(
    law: LawForm, theta: np.ndarray, logx: np.ndarray, target: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    pred, _ = law.predict_batch(theta, logx)
    residuals = pred - target[None, :]
    losses = huber(residuals) if law.in_log_space else 0.5 * residuals**2
    out = np.sum(weights * losses, axis=1)
    return np.where(np.isfinite(out), out, np.inf)


def _bound_arrays(law: LawForm) -> tuple[np.ndarray, np.ndarray]:
    low = np.array([-np.inf if b[0] is None else b[0] for b in law.bounds()])
    high = np.array([np.inf if b[1] is None else b[1] for b in law.bounds()])
    return low, high


def solve_batch(
    law: LawForm,
    start: np.ndarray,
    logx: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    max_iterations: int = _MAX_ITERATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise each row of ``weights`` (B, n) from ``start`` (p,) or from one start per row
    (B, p): returns (thetas (B, p), settled (B,)).

    ``settled`` is True where the last accepted step was below tolerance or no step could
    lower the loss any more (λ beyond its limit), i.e. at a local optimum.
    """
    batch, p = weights.shape[0], start.shape[-1]
    theta = np.tile(start, (batch, 1)) if start.ndim == 1 else start.astype(float).copy()
    damping = np.full(batch, 1e-3)
    loss = _losses(law, theta, logx, target, weights)
    active = np.ones(batch, dtype=bool)
    settled = np.zeros(batch, dtype=bool)
    eye = np.eye(p)
    low, high = _bound_arrays(law)
    for _ in range(max_iterations):
        if not active.any():
            break
        index = np.flatnonzero(active)
        t, w = theta[index], weights[index]
        pred, jac = law.predict_batch(t, logx, gradient=True)
        assert jac is not None
        residuals = pred - target[None, :]
        if law.in_log_space:
            psi = np.clip(residuals, -HUBER_DELTA, HUBER_DELTA)
            with np.errstate(divide="ignore", invalid="ignore"):
                omega = np.where(np.abs(residuals) <= HUBER_DELTA, 1.0, psi / residuals)
        else:
            psi, omega = residuals, np.ones_like(residuals)
        gradient = np.matmul((w * psi)[:, None, :], jac)[:, 0, :]  # (B, p)
        hessian = np.matmul(jac.transpose(0, 2, 1), (w * omega)[:, :, None] * jac)  # (B, p, p)
        diagonal = np.einsum("bpp->bp", hessian)
        system = hessian + (damping[index, None] * diagonal + 1e-12)[:, :, None] * eye
        try:
            step = -np.linalg.solve(system, gradient[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            step = -np.stack(
                [
                    np.linalg.lstsq(a, g, rcond=None)[0]
                    for a, g in zip(system, gradient, strict=True)
                ]
            )
        candidate = np.clip(t + step, low, high)
        new_loss = _losses(law, candidate, logx, target, w)
        better = new_loss < loss[index]
        moved = np.max(np.abs(candidate - t), axis=1)
        # Relative to the loss, or to a floor where the fit is exact to ~1e-6 in log y.
        gain = (loss[index] - new_loss) / np.maximum(loss[index], _LOSS_FLOOR)
        accepted = index[better]
        theta[accepted] = candidate[better]
        loss[accepted] = new_loss[better]
        damping[accepted] /= 3.0
        damping[index[~better]] *= 4.0
        small_step = moved < _STEP_TOLERANCE * (1 + np.max(np.abs(t), axis=1))
        done = (better & (small_step | (gain < _GAIN_TOLERANCE))) | (
            damping[index] > _LAMBDA_GIVE_UP
        )
        settled[index[done]] = True
        active[index[done]] = False
    return theta, settled & np.all(np.isfinite(theta), axis=1)
