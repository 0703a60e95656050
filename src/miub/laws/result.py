"""FitResult: a fitted law with its status, residuals and bootstrap uncertainty."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from miub.laws.axes import axis_logs
from miub.laws.forms import LawForm

STATUSES = ("converged", "failed", "too_few_points")


@dataclass
class FitResult:
    """One law fitted to one metric.

    Attributes:
        form: ``additive`` | ``multiplicative`` | ``power`` | ``loglinear`` (see
            :mod:`miub.laws.forms`).
        axes: axis names as given (``["N", "D"]``); ``columns`` are the frame columns used.
        y: the fitted column.
        params: public parameters, unrounded (E, A, alpha, B, beta, C, gamma; a, b, c, d for
            log-linear); NaN when the fit did not run.
        status: ``converged`` | ``failed`` | ``too_few_points``.
        message: why, in one line.
        loss: the minimised objective (summed Huber of log residuals; ½ Σ r² for log-linear).
        residuals: per point, ``log ŷ − log y`` (log-linear: ``ŷ − y``), in row order.
        n_points: rows used.
        ci: bootstrap percentile interval per parameter (``ci_level``, default 95 %).
        stderr: bootstrap standard deviation per parameter.
        n_bootstrap: resamples that converged (the CIs rest on these).
    """

    form: str
    axes: list[str]
    columns: list[str]
    y: str
    params: dict[str, float]
    status: str
    message: str
    loss: float = math.nan
    residuals: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    n_points: int = 0
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    stderr: dict[str, float] = field(default_factory=dict)
    n_bootstrap: int = 0
    ci_level: float = 0.95
    theta_: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    bootstrap_theta_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    @property
    def law(self) -> LawForm:
        return LawForm(self.form, len(self.axes))

    @property
    def ok(self) -> bool:
        return self.status == "converged"

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """ŷ at the rows of ``frame`` (which needs the axis columns); NaN if not fitted."""
        logx = axis_logs(frame, self.columns)
        return self._predict_logx(self.theta_, logx)

    def predict_band(
        self, frame: pd.DataFrame, level: float = 0.95
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap percentile band of ŷ at the rows of ``frame`` (NaN without a bootstrap)."""
        logx = axis_logs(frame, self.columns)
        if len(self.bootstrap_theta_) == 0:
            empty = np.full(len(logx), np.nan)
            return empty, empty.copy()
        preds = np.stack([self._predict_logx(theta, logx) for theta in self.bootstrap_theta_])
        tail = 100 * (1 - level) / 2
        low, high = np.nanpercentile(preds, [tail, 100 - tail], axis=0)
        return np.asarray(low), np.asarray(high)

    def _predict_logx(self, theta: np.ndarray, logx: np.ndarray) -> np.ndarray:
        if theta.size == 0 or not np.all(np.isfinite(theta)):
            return np.full(len(logx), np.nan)
        law = self.law
        out = law.predict(theta, logx)
        return out if not law.in_log_space else np.exp(out)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN → None), with the internal ``theta`` and the bootstrap samples
        ``bootstrap_theta`` (B, p) so that :meth:`from_dict` restores predictions and bands."""
        return {
            "form": self.form,
            "axes": list(self.axes),
            "columns": list(self.columns),
            "y": self.y,
            "status": self.status,
            "message": self.message,
            "params": {k: _clean(v) for k, v in self.params.items()},
            "ci": {k: [_clean(lo), _clean(hi)] for k, (lo, hi) in self.ci.items()},
            "ci_level": self.ci_level,
            "stderr": {k: _clean(v) for k, v in self.stderr.items()},
            "loss": _clean(self.loss),
            "n_points": self.n_points,
            "n_bootstrap": self.n_bootstrap,
            "residuals": [_clean(r) for r in np.asarray(self.residuals, dtype=float)],
            "theta": [_clean(v) for v in np.asarray(self.theta_, dtype=float)],
            "bootstrap_theta": [
                [_clean(v) for v in row] for row in np.asarray(self.bootstrap_theta_, dtype=float)
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitResult:
        """Inverse of :meth:`to_dict` (None → NaN); raises KeyError on a foreign record."""
        samples = np.array(_floats(data["bootstrap_theta"]), dtype=float)
        return cls(
            form=str(data["form"]),
            axes=list(data["axes"]),
            columns=list(data["columns"]),
            y=str(data["y"]),
            params={k: _float(v) for k, v in data["params"].items()},
            status=str(data["status"]),
            message=str(data["message"]),
            loss=_float(data["loss"]),
            residuals=np.array(_floats(data["residuals"]), dtype=float),
            n_points=int(data["n_points"]),
            ci={k: (_float(lo), _float(hi)) for k, (lo, hi) in data["ci"].items()},
            stderr={k: _float(v) for k, v in data["stderr"].items()},
            n_bootstrap=int(data["n_bootstrap"]),
            ci_level=float(data["ci_level"]),
            theta_=np.array(_floats(data["theta"]), dtype=float),
            bootstrap_theta_=samples.reshape(len(samples), -1)
            if samples.size
            else np.zeros((0, 0)),
        )


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _floats(values: list[Any]) -> list[Any]:
    return [_floats(v) if isinstance(v, list) else _float(v) for v in values]


def _clean(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
