"""Scaling axes: names (N, R, D) to result columns, and their logarithms."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from miub.errors import MiubUserError

AXIS_COLUMNS = {"N": "n_params", "R": "rank", "D": "data_size"}
AXIS_LABELS = {"N": "model size N (parameters)", "R": "LoRA rank R", "D": "data size D (examples)"}


def axis_column(frame: pd.DataFrame, axis: str) -> str:
    """The column of ``frame`` holding ``axis``: N→n_params, R→rank, D→data_size, else the
    literal column name."""
    mapped = AXIS_COLUMNS.get(axis)
    if mapped is not None and mapped in frame.columns:
        return mapped
    if axis in frame.columns:
        return axis
    wanted = f"{mapped!r} or {axis!r}" if mapped else repr(axis)
    raise MiubUserError(f"axis {axis!r}: no column {wanted} in the results")


def axis_logs(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """log of the axis columns, shape (n, k); refuses non-positive values, naming the column."""
    out = np.empty((len(frame), len(columns)))
    for i, column in enumerate(columns):
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        if np.any(values[np.isfinite(values)] <= 0):
            raise MiubUserError(
                f"column {column!r} has non-positive values; a scaling law needs log({column})"
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            out[:, i] = np.log(values)
    return out
