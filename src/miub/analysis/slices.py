"""One metric on the study's axis slices, oriented and ranked: the input of every verdict.

``SliceData``: the log levels ``x`` (L,) of one axis slice and the metric's oriented
within-slice ranks ``y`` (L, S), one column per seed (NaN where a run is missing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from miub.analysis import scalefree as sf
from miub.analysis.design import AxisSlice, slice_matrix
from miub.metrics import get_metric


@dataclass
class SliceData:
    """One metric on one axis slice: log levels (L,) and oriented within-slice ranks (L, S)."""

    x: np.ndarray
    y: np.ndarray


def oriented_slices(
    frame: pd.DataFrame, slices: dict[str, AxisSlice], name: str
) -> dict[str, SliceData]:
    """The metric oriented by the registry (lower = better) and ranked within each slice;
    slices with fewer than 3 finite runs are left out."""
    spec = get_metric(name)
    out = {}
    for axis, piece in slices.items():
        values = pd.Series(spec.orient(piece.rows[name].to_numpy(float)), index=piece.rows.index)
        x, y = slice_matrix(piece, values)
        if np.isfinite(y).sum() >= 3:
            out[axis] = SliceData(x, sf.slice_ranks(y))
    return out
