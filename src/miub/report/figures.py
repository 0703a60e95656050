"""Report figures (matplotlib, Agg): metric vs each axis with fitted laws and bootstrap
bands, the per-layer × module heatmap, and metric vs 1 − ACC."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from miub.analysis import Analysis
from miub.analysis.design import cell_means
from miub.laws import AXIS_LABELS

_COLORS = {"miub": "#1b6ca8", "internal": "#7a5195", "external": "#c44e52"}
_COLUMNS = 4


def _grid(n: int, left: float = 0.55) -> tuple[Figure, list[plt.Axes]]:
    """A grid of ``n`` panels with fixed margins (``left`` in inches)."""
    cols = min(_COLUMNS, max(n, 1))
    rows = math.ceil(max(n, 1) / cols)
    # Fixed margins in inches rather than a constrained layout: the layout engine measures
    # every tick label of every panel (and draws the figure twice), over half of the drawing
    # time of a 10-panel figure.
    width, height = 3.6 * cols, 2.9 * rows
    figure, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    figure.subplots_adjust(
        left=left / width, right=1 - 0.15 / width, bottom=0.75 / height,
        top=1 - 0.35 / height, wspace=0.32, hspace=0.55,
    )  # fmt: skip
    flat = list(axes.ravel())
    for extra in flat[n:]:
        extra.set_visible(False)
    return figure, flat


def plot_axis(analysis: Analysis, axis: str, path: Path) -> Path:
    """One panel per metric: runs (dots), seed mean ± SD (error bars), fitted E + A·X^−α
    with its 95 % bootstrap band, and the log-linear fit (dashed)."""
    piece = analysis.slices[axis]
    names = list(analysis.stats)
    figure, panels = _grid(len(names))
    for panel, name in zip(panels, names, strict=False):
        stats = analysis.stats[name]
        along = stats.axes[axis]
        rows = piece.rows[np.isfinite(piece.rows[name].to_numpy(float))]
        color = _COLORS.get(stats.metric.kind, "#333333")
        panel.scatter(rows[piece.column], rows[name], s=9, color=color, alpha=0.35, lw=0)
        means = cell_means(rows, name, piece.column)
        panel.errorbar(
            means[piece.column], means["mean"], yerr=means["sd"].fillna(0), fmt="o", ms=4,
            color=color, capsize=3, lw=1.2, label="mean ± SD over seeds",
        )  # fmt: skip
        grid = pd.DataFrame({piece.column: np.geomspace(min(piece.levels), max(piece.levels), 80)})
        saturating = along.fits.get("additive")
        if saturating is not None and saturating.ok:
            panel.plot(grid[piece.column], saturating.predict(grid), color="black", lw=1.3,
                       label="E + A·X^−α")  # fmt: skip
            low, high = saturating.predict_band(grid)
            if np.all(np.isfinite(low)):
                panel.fill_between(grid[piece.column], low, high, color="black", alpha=0.12,
                                   lw=0, label="95 % bootstrap band")  # fmt: skip
        linear = along.fits.get("loglinear")
        if linear is not None and linear.ok:
            panel.plot(grid[piece.column], linear.predict(grid), color="gray", lw=1, ls="--",
                       label="a + b·log X")  # fmt: skip
        _level_ticks(panel, piece.levels)
        panel.set_title(f"{stats.metric.label}   ρ = {along.spearman:+.2f}", fontsize=10)
        panel.tick_params(labelsize=8)
        panel.grid(alpha=0.25, which="both", lw=0.5)
    panels[0].legend(fontsize=7, loc="best")
    figure.supxlabel(f"{AXIS_LABELS[axis]}   —   {piece.describe()}", fontsize=10)
    return _save(figure, path)


def _level_ticks(panel: plt.Axes, levels: list[float]) -> None:
    """Log x axis with a tick at each level, labelled plainly (1, 2, 4 … or 2e+05)."""
    panel.set_xscale("log")
    panel.minorticks_off()
    shown = levels if len(levels) <= 8 else levels[:: math.ceil(len(levels) / 8)]
    labels = [f"{v:g}" if v < 1e4 else f"{v:.0e}".replace("e+0", "e") for v in shown]
    panel.set_xticks(shown, labels)


def plot_alignment(analysis: Analysis, path: Path) -> Path | None:
    """Each metric against 1 − ACC across runs, coloured by log rank; None without ACC."""
    frame = analysis.frame
    names = [n for n in analysis.stats if n != "err"]
    if "err" not in frame.columns or not names or frame["err"].notna().sum() < 3:
        return None
    figure, panels = _grid(len(names), left=0.85)  # room for the shared y label
    shade = np.log2(frame["rank"]) if "rank" in frame.columns else None
    for panel, name in zip(panels, names, strict=False):
        stats = analysis.stats[name]
        points = panel.scatter(frame[name], frame["err"], c=shade, cmap="viridis", s=14, lw=0)
        panel.set_title(f"{stats.metric.label}   ρ = {stats.alignment:+.2f}", fontsize=10)
        panel.tick_params(labelsize=8)
        panel.grid(alpha=0.25, lw=0.5)
    figure.supylabel("1 − ACC", fontsize=10)
    figure.supxlabel("metric value (one dot per run)", fontsize=10)
    if shade is not None:
        figure.colorbar(points, ax=panels, label="log2 rank", shrink=0.6)
    return _save(figure, path)


def plot_breakdown(table: pd.DataFrame, path: Path, title: str) -> Path | None:
    """Heatmap per estimator: layers (rows) × module (columns), value averaged over runs."""
    if table.empty:
        return None
    estimators = sorted(table["estimator"].unique())
    n = len(estimators)
    cols = min(3, n)
    figure, grid = plt.subplots(
        math.ceil(n / cols), cols, figsize=(5.2 * cols, 3.8 * math.ceil(n / cols)),
        squeeze=False, layout="constrained",
    )  # fmt: skip
    panels = list(grid.ravel())
    for extra in panels[n:]:
        extra.set_visible(False)
    for panel, estimator in zip(panels, estimators, strict=False):
        part = table[table["estimator"] == estimator]
        order = sorted(part["module"].unique(), key=_module_position)
        matrix = part.pivot_table(index="layer", columns="module", values="value")[order]
        image = panel.imshow(matrix.to_numpy(), aspect="auto", cmap="magma")
        panel.set_xticks(range(len(order)), order, rotation=45, ha="right", fontsize=8)
        panel.set_yticks(range(len(matrix.index)), [str(i) for i in matrix.index], fontsize=8)
        panel.set_ylabel("layer", fontsize=8)
        panel.set_title(estimator, fontsize=10)
        figure.colorbar(image, ax=panel, shrink=0.85)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


_MODULE_ORDER = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _module_position(name: str) -> tuple[int, str]:
    return (_MODULE_ORDER.index(name) if name in _MODULE_ORDER else len(_MODULE_ORDER), name)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, format="png")
    plt.close(figure)
    return path
