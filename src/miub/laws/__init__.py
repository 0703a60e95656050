"""Scaling laws: fit ``E + A·X^−α`` and its joint forms the Hoffmann/Epoch way.

    from miub import laws
    fit = laws.fit(frame, y="ce", axes=["N", "D"], form="additive", bootstrap=1000, seed=0)
    fit.params, fit.status, fit.ci, fit.predict(frame)
    laws.extrapolation_error(frame, "ce", axis="R", form="additive")

References: Hoffmann et al. 2022 (Chinchilla, App. D.2), Besiroglu et al. 2024 ("Chinchilla
Scaling: A replication attempt"), Zhang et al. ICLR 2024 (multiplicative fine-tuning law).
"""

from __future__ import annotations

from miub.laws.axes import AXIS_COLUMNS, AXIS_LABELS, axis_column
from miub.laws.fitting import default_starts, extrapolation_error, fit
from miub.laws.forms import FORMS, LawForm
from miub.laws.optimize import HUBER_DELTA, huber
from miub.laws.result import FitResult

__all__ = [
    "AXIS_COLUMNS",
    "AXIS_LABELS",
    "FORMS",
    "HUBER_DELTA",
    "FitResult",
    "LawForm",
    "axis_column",
    "default_starts",
    "extrapolation_error",
    "fit",
    "huber",
]
