"""The study design behind a results frame: cells (one config, several seeds) and the
one-axis slices through the centre point along which each axis varies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from miub.laws.axes import AXIS_COLUMNS

AXES = ("N", "R", "D")


def cell_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that identify a configuration; rows sharing them differ only by seed."""
    return [c for c in ("task", "n_params", "rank", "data_size") if c in frame.columns]


@dataclass(frozen=True)
class AxisSlice:
    """The rows along which ``axis`` varies while the others stay fixed (all seeds kept).

    ``fixed`` maps each other cell column to its value on the slice; ``levels`` are the
    sorted distinct values of the axis column on it.
    """

    axis: str
    column: str
    rows: pd.DataFrame
    fixed: dict[str, object]
    levels: list[float]

    def describe(self) -> str:
        fixed = ", ".join(f"{k}={_short(v)}" for k, v in self.fixed.items())
        levels = ", ".join(_short(v) for v in self.levels)
        return f"{self.column} ∈ {{{levels}}}" + (f" at {fixed}" if fixed else "")


def axis_slice(frame: pd.DataFrame, axis: str) -> AxisSlice | None:
    """The slice of ``frame`` that varies ``axis``, or None if no slice has 2 levels of it.

    Groups rows by the other cell columns and takes the group with the most levels of the
    axis: in a one-axis-at-a-time study that is the slice through the centre point; in a
    full factorial every group qualifies and the one closest to the middle levels of the
    other axes (then the most rows) is taken.
    """
    column = AXIS_COLUMNS[axis]
    if column not in frame.columns:
        return None
    data = frame[np.isfinite(frame[column].to_numpy(float))]
    others = [c for c in cell_columns(data) if c != column]
    groups: list[tuple[Any, pd.DataFrame]] = (
        list(data.groupby(others, dropna=False, sort=True)) if others else [((), data)]
    )
    best: tuple[tuple[int, float, int], Any, pd.DataFrame] | None = None
    for key, rows in groups:
        n_levels = rows[column].nunique()
        score = (n_levels, -_distance_from_middle(data, others, rows), len(rows))
        if best is None or score > best[0]:
            best = (score, key, rows)
    if best is None or best[0][0] < 2:
        return None
    _, key, rows = best
    values = key if isinstance(key, tuple) else (key,)
    levels = sorted(float(v) for v in rows[column].unique())
    return AxisSlice(axis, column, rows, dict(zip(others, values, strict=False)), levels)


def _distance_from_middle(frame: pd.DataFrame, others: list[str], rows: pd.DataFrame) -> float:
    """How far a group's other-axis values sit from the middle level of each axis (0 = centre),
    in units of level positions."""
    distance = 0.0
    for column in others:
        if column == "task":
            continue
        levels = np.sort(frame[column].dropna().unique())
        if len(levels) < 2:
            continue
        value = rows[column].iloc[0]
        position = int(np.searchsorted(levels, value))
        distance += abs(position - (len(levels) - 1) / 2)
    return distance


def cell_means(rows: pd.DataFrame, metric: str, column: str) -> pd.DataFrame:
    """Mean, SD and seed count of ``metric`` per level of ``column`` (sorted by level)."""
    grouped = rows.groupby(column)[metric]
    out = pd.DataFrame(
        {"mean": grouped.mean(), "sd": grouped.std(ddof=1), "n": grouped.count()}
    ).reset_index()
    return out.sort_values(column).reset_index(drop=True)


def _short(value: object) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        value = int(value)
    if isinstance(value, int | np.integer) and abs(int(value)) >= 10_000:
        return f"{float(value):.3g}"
    return str(value)


def slice_matrix(piece: AxisSlice, values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(x, Y)``: log of the slice's levels (L,) and ``values`` of its runs as (L, S), one column
    per seed (sorted), NaN where a run is missing. ``values`` is indexed like ``piece.rows``."""
    rows = piece.rows
    seeds = sorted(rows["seed"].unique()) if "seed" in rows.columns else [0]
    levels = np.asarray(piece.levels, dtype=float)
    matrix = np.full((len(levels), len(seeds)), np.nan)
    level_index = {level: i for i, level in enumerate(levels)}
    seed_index = {seed: j for j, seed in enumerate(seeds)}
    seed_column = rows["seed"] if "seed" in rows.columns else pd.Series(0, index=rows.index)
    for index, level, seed in zip(rows.index, rows[piece.column], seed_column, strict=True):
        matrix[level_index[float(level)], seed_index[seed]] = float(values.loc[index])
    return np.log(levels), matrix
