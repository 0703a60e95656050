"""Scaling-law forms in log space: each maps log-axes to ``log ŷ`` (and its gradient).

Every form is written so that ``log ŷ`` is a log-sum-exp of linear terms, which keeps the fit
well conditioned over many orders of magnitude (Hoffmann et al. 2022, §D.2; Besiroglu et al.
2024). With ``x_i = log X_i`` for the ``k`` axes:

- ``additive``:       ŷ = E + Σ_i A_i X_i^(−α_i)
  log ŷ = LSE(e, a_1 − α_1 x_1, …, a_k − α_k x_k),  e = log E, a_i = log A_i.
  One axis gives ``E + A·X^(−α)``; two axes give Chinchilla's ``E + A/N^α + B/D^β``.
- ``multiplicative``: ŷ = E + A Π_i X_i^(−α_i)   (Zhang et al., ICLR 2024)
  log ŷ = LSE(e, a − Σ_i α_i x_i).
- ``power``:          ŷ = A Π_i X_i^(−α_i)        (no floor)
  log ŷ = a − Σ_i α_i x_i.
- ``loglinear``:      ŷ = a + Σ_i b_i x_i          (fit on ``y`` itself, not its log).

E ≥ 0 and A ≥ 0 hold by construction (they are exponentials). Exponents of the saturating
forms are bounded to [0, 10] (a law that decays towards its floor); ``power`` and
``loglinear`` take either sign, so they also describe a metric that grows along an axis.
Public parameter names are positional: the first axis gets (A, alpha), the second (B, beta),
the third (C, gamma); for ``multiplicative``/``power`` the single scale is A.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMS = ("additive", "multiplicative", "power", "loglinear")
SCALES = ("A", "B", "C")
EXPONENTS = ("alpha", "beta", "gamma")
SLOPES = ("b", "c", "d")
EXPONENT_BOUNDS = (0.0, 10.0)
# An asymptote far below any metric value: log E is bounded so the optimiser cannot run away.
LOG_BOUNDS = (-50.0, 60.0)


@dataclass(frozen=True)
class LawForm:
    """A law over ``n_axes`` axes, parametrised by a vector ``theta`` (log scales, exponents)."""

    name: str
    n_axes: int

    def __post_init__(self) -> None:
        if self.name not in FORMS:
            raise ValueError(f"unknown form {self.name!r}; choose one of {', '.join(FORMS)}")
        if not 1 <= self.n_axes <= 3:
            raise ValueError("a law takes 1 to 3 axes")

    @property
    def in_log_space(self) -> bool:
        """Whether the fit compares ``log ŷ`` with ``log y`` (all forms but log-linear)."""
        return self.name != "loglinear"

    @property
    def theta_names(self) -> list[str]:
        """Names of the internal parameters, in the order of ``theta``."""
        k = self.n_axes
        if self.name == "additive":
            names = ["e"]
            for i in range(k):
                names += [SCALES[i].lower(), EXPONENTS[i]]
            return names
        if self.name == "multiplicative":
            return ["e", "a", *EXPONENTS[:k]]
        if self.name == "power":
            return ["a", *EXPONENTS[:k]]
        return ["a", *SLOPES[:k]]

    @property
    def n_params(self) -> int:
        return len(self.theta_names)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """L-BFGS-B bounds per entry of ``theta``."""
        out: list[tuple[float | None, float | None]] = []
        for name in self.theta_names:
            if name in EXPONENTS and self.name in ("additive", "multiplicative"):
                out.append(EXPONENT_BOUNDS)
            elif self.name == "loglinear":
                out.append((None, None))
            else:
                out.append(LOG_BOUNDS)
        return out

    def predict(self, theta: np.ndarray, logx: np.ndarray) -> np.ndarray:
        """``log ŷ`` for log-space forms, ``ŷ`` for log-linear; ``logx`` is (n, k)."""
        if self.name == "loglinear":
            return np.asarray(theta[0] + logx @ theta[1:], dtype=float)
        if self.name == "power":
            return np.asarray(theta[0] - logx @ theta[1:], dtype=float)
        return np.asarray(self.predict_batch(theta[None, :], logx)[0][0], dtype=float)

    def predict_with_gradient(
        self, theta: np.ndarray, logx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The prediction of :meth:`predict` and its Jacobian in ``theta``, shape (n, n_params)."""
        pred, jac = self.predict_batch(theta[None, :], logx, gradient=True)
        assert jac is not None
        return pred[0], jac[0]

    def predict_batch(
        self, theta: np.ndarray, logx: np.ndarray, gradient: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions for a batch of parameter vectors ``theta`` (B, p) at ``logx`` (n, k):
        shape (B, n), and with ``gradient`` the Jacobians, shape (B, n, p).

        For a log-sum-exp, ∂LSE/∂term_j = softmax_j, so each Jacobian entry is a softmax
        weight times the derivative of the linear term (1 for a log scale, −x_i for an
        exponent).
        """
        batch, n = theta.shape[0], logx.shape[0]
        if self.name in ("power", "loglinear"):
            sign = -1.0 if self.name == "power" else 1.0
            pred = theta[:, :1] + sign * (theta[:, 1:] @ logx.T)  # (B, n)
            if not gradient:
                return pred, None
            jac = np.empty((batch, n, theta.shape[1]))
            jac[:, :, 0] = 1.0
            jac[:, :, 1:] = sign * logx[None, :, :]
            return pred, jac
        if self.name == "additive":
            terms = np.empty((batch, n, 1 + self.n_axes))
            terms[:, :, 1:] = theta[:, None, 1::2] - logx[None] * theta[:, None, 2::2]
        else:
            terms = np.empty((batch, n, 2))
            terms[:, :, 1] = theta[:, 1:2] - theta[:, 2:] @ logx.T  # a − Σ α_i x_i
        terms[:, :, 0] = theta[:, :1]
        pred, weights = _log_sum_exp(terms)  # (B, n), (B, n, m)
        if not gradient:
            return pred, None
        jac = np.empty((batch, n, theta.shape[1]))
        jac[:, :, 0] = weights[:, :, 0]
        if self.name == "additive":
            jac[:, :, 1::2] = weights[:, :, 1:]
            jac[:, :, 2::2] = -weights[:, :, 1:] * logx[None]
        else:
            jac[:, :, 1] = weights[:, :, 1]
            jac[:, :, 2:] = -weights[:, :, 1:2] * logx[None]
        return pred, jac

    def public_params(self, theta: np.ndarray) -> dict[str, float]:
        """Parameters as reported: scales exponentiated (E, A, B, C), exponents as is."""
        out: dict[str, float] = {}
        for name, value in zip(self.theta_names, theta, strict=True):
            if self.name != "loglinear" and name in ("e", "a", "b", "c"):
                out[name.upper()] = float(np.exp(value))
            else:
                out[name] = float(value)
        return out

    def theta_from_public(self, params: dict[str, float]) -> np.ndarray:
        """Inverse of :meth:`public_params`."""
        theta = []
        for name in self.theta_names:
            if self.name != "loglinear" and name in ("e", "a", "b", "c"):
                theta.append(float(np.log(params[name.upper()])))
            else:
                theta.append(float(params[name]))
        return np.asarray(theta)


def _log_sum_exp(terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log Σ_j exp(terms_j) over the last axis, and the softmax weights.

    Hand-rolled rather than scipy's: it runs inside every objective evaluation of thousands
    of bootstrap fits, where scipy's argument checks cost more than the arithmetic.
    """
    top = terms.max(axis=-1, keepdims=True)
    shifted = np.exp(terms - top)
    total = shifted.sum(axis=-1, keepdims=True)
    return (top + np.log(total))[..., 0], shifted / total
