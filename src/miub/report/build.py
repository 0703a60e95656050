"""``build_report(DIR, analysis)``: draw ``figures/*.png`` and a self-contained ``report.html``
(figures embedded as base64 PNG, no external URL) from an analysis of a sweep directory.
The analysis itself (and ``fits.json``) comes from :mod:`miub.runners.fit`."""

from __future__ import annotations

import base64
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from miub.analysis import Analysis
from miub.analysis.analysis import SCORE_RULE
from miub.analysis.claims import RULE_ACCURATE, RULE_ALIGNED, RULE_DECREASE, RULE_STABLE
from miub.analysis.design import cell_columns
from miub.provenance import provenance
from miub.report import figures
from miub.report.breakdown import load_breakdown

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"


def build_report(
    directory: str | Path,
    analysis: Analysis,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write ``DIR/figures/*.png`` and ``DIR/report.html`` for an analysis of ``DIR`` (made by
    :mod:`miub.runners.fit`, which also writes ``fits.json``); return the report's path.
    Figures that cannot be drawn become notes in the report."""
    directory = Path(directory)
    say = progress or (lambda _: None)
    say("drawing figures")
    notes = list(analysis.notes)
    drawn = _draw_figures(analysis, directory, notes)
    html = _render(analysis, directory, drawn, notes)
    path = directory / REPORT_FILE
    path.write_text(html, encoding="utf-8")
    return path


def _draw_figures(analysis: Analysis, directory: Path, notes: list[str]) -> list[dict[str, str]]:
    out_dir = directory / FIGURES_DIR
    drawn: list[dict[str, str]] = []

    def attempt(title: str, caption: str, draw: Callable[[], Path | None]) -> None:
        try:
            path = draw()
        except Exception as error:  # a broken figure must not sink the report
            notes.append(f"figure '{title}' could not be drawn: {type(error).__name__}: {error}")
            return
        if path is not None:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            drawn.append({"title": title, "caption": caption, "file": path.name, "data": data})

    for axis in analysis.axes:
        attempt(
            f"Metrics vs {figures.AXIS_LABELS[axis]}",
            "Dots: runs; markers: mean ± SD over seeds; black: E + A·X^−α fitted on all runs "
            "with its 95 % bootstrap band; dashed: a + b·log X.",
            lambda axis=axis: figures.plot_axis(analysis, axis, out_dir / f"metric_vs_{axis}.png"),  # type: ignore[misc]
        )
    attempt(
        "Metrics vs 1 − ACC",
        "Each run; ρ is the Spearman correlation with 1 − ACC (positive = aligned).",
        lambda: figures.plot_alignment(analysis, out_dir / "metric_vs_err.png"),
    )
    run_keys, where = _centre_runs(analysis)
    table, note = (
        (pd.DataFrame(), "no run keys") if not run_keys else load_breakdown(directory, run_keys)
    )
    if note:
        notes.append(note)
    else:
        attempt(
            "MIUB per layer and module",
            f"Mean over the {len(run_keys)} runs of the centre cell ({where}).",
            lambda: figures.plot_breakdown(
                table, out_dir / "breakdown.png", f"centre cell: {where}"
            ),
        )
    return drawn


def _centre_runs(analysis: Analysis) -> tuple[list[str], str]:
    """Run keys of the cell shared by most axis slices (the centre point), and its label."""
    frame = analysis.frame
    if "run_key" not in frame.columns:
        return [], ""
    columns = cell_columns(frame)
    pieces = [piece.rows for piece in analysis.slices.values()] or [frame]
    counts = pd.concat(pieces).groupby(columns, dropna=False).size() if columns else None
    if counts is None or counts.empty:
        return [str(k) for k in frame["run_key"]], "all runs"
    key = counts.idxmax()
    key = key if isinstance(key, tuple) else (key,)
    mask = np.ones(len(frame), dtype=bool)
    for column, value in zip(columns, key, strict=True):
        mask &= (frame[column] == value).to_numpy()
    label = ", ".join(f"{c}={_fmt(v)}" for c, v in zip(columns, key, strict=True))
    return [str(k) for k in frame.loc[mask, "run_key"]], label


def _render(
    analysis: Analysis, directory: Path, drawn: list[dict[str, str]], notes: list[str]
) -> str:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("miub.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["fmt"] = _fmt
    environment.filters["pvalue"] = _pvalue
    template = environment.get_template("report.html.j2")
    return template.render(
        title=f"miub report — {_study_name(analysis)}",
        directory=str(directory.resolve()),
        answer=analysis.answer(),
        notes=notes,
        axes=analysis.axes,
        slices={axis: piece.describe() for axis, piece in analysis.slices.items()},
        claims=_claim_groups(analysis),
        rules={
            "decrease": RULE_DECREASE,
            "stable": RULE_STABLE,
            "accurate": RULE_ACCURATE,
            "aligned": RULE_ALIGNED,
            "score": SCORE_RULE,
        },
        stability=_stability_rows(analysis),
        fluctuation=_fluctuation_rows(analysis),
        fits=_fit_rows(analysis),
        figures=drawn,
        metadata=_metadata(analysis, directory),
    )


def _claim_groups(analysis: Analysis) -> list[dict[str, Any]]:
    groups: dict[str, list[Any]] = {}
    for claim in analysis.claims:
        groups.setdefault(claim.estimator, []).append(claim)
    return [{"estimator": name, "claims": claims} for name, claims in groups.items()]


def _stability_rows(analysis: Analysis) -> list[dict[str, str]]:
    rows = []
    for name, row in analysis.stability.iterrows():
        out = {"metric": str(name), "kind": str(row["kind"]), "score": _fmt(row["score"])}
        out["NSR"] = _fmt(row["nsr"])
        for axis in analysis.axes:
            out[f"ρ {axis}"] = _fmt(row[f"rho_{axis}"], signed=True)
        for axis in analysis.axes:
            out[f"law err {axis}"] = _fmt(row[f"law_error_{axis}"])
        for axis in analysis.axes:
            out[f"extrap err {axis}"] = _fmt(row[f"extrapolation_{axis}"])
        out["ρ 1−ACC"] = _fmt(row["rho_err"], signed=True)
        rows.append(out)
    return rows


def _fluctuation_rows(analysis: Analysis) -> list[dict[str, str]]:
    """Max/min of seed means and relative change along each axis, per metric."""
    rows = []
    for name, stats in analysis.stats.items():
        out = {"metric": name}
        for axis, along in stats.axes.items():
            out[f"max/min {axis}"] = _fmt(along.fluctuation)
            out[f"change {axis}"] = (
                "—" if not math.isfinite(along.change) else f"{along.change:+.0%}"
            )
        rows.append(out)
    return rows


def _fit_rows(analysis: Analysis) -> list[dict[str, str]]:
    rows = []
    for name, stats in analysis.stats.items():
        for axis, along in stats.axes.items():
            for fit in along.fits.values():
                rows.append(_fit_row(name, axis, fit))
    for name, fits in analysis.joint.items():
        for fit in fits.values():
            rows.append(_fit_row(name, "+".join(fit.axes), fit))
    return rows


def _fit_row(metric: str, axes: str, fit: Any) -> dict[str, str]:
    params = "; ".join(
        f"{k} = {_fmt(v)}"
        + (f" [{_fmt(fit.ci[k][0])}, {_fmt(fit.ci[k][1])}]" if k in fit.ci else "")
        for k, v in fit.params.items()
    )
    return {
        "metric": metric,
        "axes": axes,
        "form": fit.form,
        "status": fit.status,
        "params": params if fit.status != "too_few_points" else fit.message,
        "n": str(fit.n_points),
        "boot": str(fit.n_bootstrap),
    }


def _study_name(analysis: Analysis) -> str:
    if "study" in analysis.frame.columns:
        names = sorted({str(s) for s in analysis.frame["study"].dropna().unique()})
        if names:
            return ", ".join(names)
    return "results"


def _metadata(analysis: Analysis, directory: Path) -> list[tuple[str, str]]:
    origin = provenance()
    frame = analysis.frame
    items = [
        ("study", _study_name(analysis)),
        ("results", str(directory.resolve() / "results.csv")),
        ("finished runs", str(len(frame))),
        ("models", ", ".join(sorted({str(m) for m in frame.get("model", pd.Series()).dropna()}))),
        ("tasks", ", ".join(sorted({str(t) for t in frame.get("task", pd.Series()).dropna()}))),
        ("seeds", str(frame["seed"].nunique()) if "seed" in frame.columns else "?"),
        ("bootstrap resamples", f"{analysis.settings.get('bootstrap')} per axis law, "
                                f"{analysis.settings.get('joint_bootstrap')} per joint law"),
        ("report created", datetime.now(UTC).isoformat(timespec="seconds")),
        ("miub git revision", str(origin.get("git_revision") or "unknown")),
        ("platform", str(origin.get("platform"))),
    ]  # fmt: skip
    versions = origin.get("versions", {})
    items.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return items


def _pvalue(value: Any) -> str:
    """A p-value to 2 significant digits (``< 1e-4`` below that), ``—`` when there is none."""
    if value is None or not isinstance(value, int | float | np.number):
        return "—"
    number = float(value)
    if not math.isfinite(number):
        return "—"
    return "< 1e-4" if number < 1e-4 else f"{number:.2g}"


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, int | np.integer):
        return str(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            return "—"
        if number.is_integer() and 10 <= abs(number) < 1e5:
            return f"{int(number)}"
        return f"{number:+.3g}" if signed else f"{number:.3g}"
    return str(value)
