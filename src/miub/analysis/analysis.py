"""``analyze(frame) -> Analysis``: every metric's laws, stability and alignment, one table,
and the claim verdicts.

The table answers "which metric follows the scaling laws most accurately and stably?": each
metric is ranked on five criteria (noise-to-signal ratio NSR ↓, mean |Spearman ρ| along the varied axes ↑,
mean law error ↓, mean extrapolation error ↓, alignment ρ with 1 − ACC ↑); ``score`` is the
mean of its ranks over the criteria it has (1 = best), and the table is sorted by it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from miub import laws
from miub.analysis.claims import ClaimVerdict, judge_alignment, judge_claims
from miub.analysis.design import AXES, AxisSlice, axis_slice
from miub.analysis.results import Metric, Results, prepare_frame
from miub.analysis.seedtests import mean_nsr
from miub.analysis.slices import oriented_slices
from miub.analysis.statistics import MetricStats, axis_stats
from miub.errors import MiubUserError
from miub.laws import FitResult

SCORE_RULE = (
    "mean rank over: NSR (lower better), mean |ρ| vs the varied axes (higher), within-slice ρ "
    "with 1 − ACC (higher); 1 = best. All three are rank statistics, so the score is unchanged "
    "by any increasing map of a metric (CE and PPL score alike); the relative law errors are "
    "shown, not scored, because they depend on a metric's offset and scale"
)
JOINT_FORMS = ("additive", "multiplicative")


@dataclass
class Analysis:
    """The analysis of one results frame (see :func:`analyze`)."""

    frame: pd.DataFrame
    metrics: list[Metric]
    slices: dict[str, AxisSlice]
    stats: dict[str, MetricStats]
    joint: dict[str, dict[str, FitResult]]
    claims: list[ClaimVerdict]
    stability: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def axes(self) -> list[str]:
        """The axes the study varies (N, R, D order)."""
        return [axis for axis in AXES if axis in self.slices]

    def best_metric(self) -> str | None:
        """The metric with the best (lowest) score in the stability table."""
        return None if self.stability.empty else str(self.stability.index[0])

    def answer(self) -> str:
        """One sentence answering the stability question."""
        best = self.best_metric()
        if best is None:
            return "No metric could be scored."
        score = self.stability.loc[best, "score"]
        runner_up = self.stability.index[1] if len(self.stability) > 1 else None
        tail = f"; next: {runner_up}" if runner_up is not None else ""
        return (
            f"Most accurate and stable along {', '.join(self.axes) or 'no axis'}: {best} "
            f"(mean rank {score:.2f} of {len(self.stability)}{tail})."
        )

    def summary_rows(self) -> list[dict[str, str]]:
        """Compact rows for a terminal table: one per metric, formatted strings."""
        rows = []
        for name, row in self.stability.iterrows():
            out = {"metric": str(name), "kind": str(row["kind"]), "score": _fmt(row["score"])}
            out["NSR"] = _fmt(row["nsr"])
            for axis in self.axes:
                out[f"ρ {axis}"] = _fmt(row.get(f"rho_{axis}"), signed=True)
            out["ρ 1−ACC"] = _fmt(row["rho_err"], signed=True)
            out["extrap err"] = _fmt(row["extrapolation_error"])
            verdicts = [c for c in self.claims if c.estimator == name]
            supported = sum(c.verdict == "supported" for c in verdicts)
            out["claims"] = f"{supported}/{len(verdicts)} supported" if verdicts else ""
            rows.append(out)
        return rows

    def claim_rows(self) -> list[dict[str, str]]:
        """One formatted row per verdict: estimator, claim, verdict, the test's statistic, p,
        p_Holm (Holm-adjusted within the claim's family) and effect size."""
        return [
            {
                "estimator": c.estimator,
                "claim": c.short,
                "verdict": c.verdict,
                "statistic": _fmt(c.statistic, signed=True),
                "p": _fmt_p(c.p),
                "p_Holm": _fmt_p(c.p_holm),
                "effect": _fmt(c.effect, signed=True),
            }
            for c in self.claims
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, notes, per-axis and joint fits, the table and the claims."""
        per_axis = []
        for name, metric in self.stats.items():
            for axis, along in metric.axes.items():
                per_axis.append(
                    {
                        "metric": name,
                        "axis": axis,
                        "slice": along.description,
                        "n_points": along.n_points,
                        "n_levels": along.n_levels,
                        "spearman": _json(along.spearman),
                        "spearman_p": _json(along.spearman_p),
                        "slope": _json(along.slope),
                        "slope_ci": [_json(v) for v in along.slope_ci],
                        "law_error": _json(along.law_error),
                        "extrapolation_error": _json(along.extrapolation_error),
                        "fluctuation": _json(along.fluctuation),
                        "change": _json(along.change),
                        "notes": along.notes,
                        "fits": {form: fit.to_dict() for form, fit in along.fits.items()},
                    }
                )
        joint = [
            {"metric": name, **fit.to_dict()}
            for name, fits in self.joint.items()
            for fit in fits.values()
        ]
        table = self.stability.reset_index().to_dict(orient="records")
        metrics = {
            name: {
                "kind": metric.metric.kind,
                "label": metric.metric.label,
                "nsr": _json(metric.nsr),
                "alignment": _json(metric.alignment),
                "alignment_ci": [_json(v) for v in metric.alignment_ci],
                "n_aligned_runs": metric.n_aligned_runs,
            }
            for name, metric in self.stats.items()
        }
        return {
            "settings": self.settings,
            "notes": self.notes,
            "axes": self.axes,
            "slices": {axis: piece.describe() for axis, piece in self.slices.items()},
            "answer": self.answer(),
            "score_rule": SCORE_RULE,
            "metrics": metrics,
            "stability": [{k: _json(v) for k, v in row.items()} for row in table],
            "claims": [claim.to_dict() for claim in self.claims],
            "per_axis": per_axis,
            "joint": joint,
        }


def analyze(
    data: pd.DataFrame | Results,
    bootstrap: int = 1000,
    joint_bootstrap: int = 100,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    claim_bootstrap: int = 400,
) -> Analysis:
    """Analyse a results frame (``results.csv`` as a DataFrame, or :class:`Results`).

    Per metric: one-axis laws (``E + A·X^−α``, power, log-linear) on each axis slice with
    ``bootstrap`` resamples, Spearman ρ, log-linear slope CI, law and extrapolation errors,
    fluctuation, seed CV, alignment with 1 − ACC. Joint additive and multiplicative laws over
    the varied axes on all runs, with ``joint_bootstrap`` resamples (each is a 5–7-parameter
    fit; raise it for publication CIs). Then the stability table and the claim verdicts.
    """
    results = data if isinstance(data, Results) else prepare_frame(data)
    frame, notes = results.frame, list(results.notes)
    say = progress or (lambda _: None)
    slices = {}
    for axis in AXES:
        piece = axis_slice(frame, axis)
        if piece is None:
            notes.append(f"the study does not vary {axis}; no law along it")
        else:
            slices[axis] = piece
    stats: dict[str, MetricStats] = {}
    joint: dict[str, dict[str, FitResult]] = {}
    for metric in results.metrics:
        say(f"fitting {metric.name}")
        aligned = judge_alignment(frame, slices, metric.name) if metric.name != "err" else None
        rho = aligned.numbers.get("rho_within_slices", np.nan) if aligned else np.nan
        stats[metric.name] = MetricStats(
            metric=metric,
            nsr=float(mean_nsr(oriented_slices(frame, slices, metric.name))[0]),
            alignment=float(rho),
            alignment_ci=(float("nan"), float("nan")),
            n_aligned_runs=int(frame[metric.name].notna().sum()),
            axes={
                axis: axis_stats(piece, metric.name, bootstrap, seed)
                for axis, piece in slices.items()
            },
        )
        if len(slices) >= 2:
            joint[metric.name] = _joint_fits(
                frame, metric.name, list(slices), joint_bootstrap, seed, notes
            )
    if not slices:
        notes.append("no axis has 2 or more levels: no scaling law can be fitted")
    claims = judge_claims(frame, slices, results.metrics, claim_bootstrap, seed)
    return Analysis(
        frame=frame,
        metrics=results.metrics,
        slices=slices,
        stats=stats,
        joint=joint,
        claims=claims,
        stability=stability_table(stats, list(slices)),
        notes=notes,
        settings={"bootstrap": bootstrap, "joint_bootstrap": joint_bootstrap, "seed": seed},
    )


def _joint_fits(
    frame: pd.DataFrame,
    metric: str,
    axes: list[str],
    n_resamples: int,
    seed: int,
    notes: list[str],
) -> dict[str, FitResult]:
    fits: dict[str, FitResult] = {}
    for form in JOINT_FORMS:
        try:
            fits[form] = laws.fit(frame, metric, axes, form, bootstrap=n_resamples, seed=seed)
        except MiubUserError as error:
            notes.append(f"joint {form} law for {metric} skipped: {error}")
            break
    return fits


def stability_table(stats: dict[str, MetricStats], axes: list[str]) -> pd.DataFrame:
    """One row per metric with the numbers behind the score (see :data:`SCORE_RULE`)."""
    rows = []
    for name, metric in stats.items():
        row: dict[str, Any] = {
            "metric": name,
            "kind": metric.metric.kind,
            "nsr": metric.nsr,
        }
        for axis in axes:
            along = metric.axes[axis]
            row[f"rho_{axis}"] = along.spearman
            row[f"law_error_{axis}"] = along.law_error
            row[f"extrapolation_{axis}"] = along.extrapolation_error
            row[f"fluctuation_{axis}"] = along.fluctuation
        row["rho_err"] = metric.alignment
        row["abs_rho"] = _nanmean([abs(metric.axes[a].spearman) for a in axes])
        row["law_error"] = _nanmean([metric.axes[a].law_error for a in axes])
        row["extrapolation_error"] = _nanmean([metric.axes[a].extrapolation_error for a in axes])
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["kind", "score"])
    table = pd.DataFrame(rows).set_index("metric")
    criteria = {"nsr": True, "abs_rho": False, "rho_err": False}
    ranks = pd.DataFrame(
        {c: table[c].rank(ascending=lower, na_option="keep") for c, lower in criteria.items()}
    )
    table["score"] = ranks.mean(axis=1, skipna=True)
    return table.sort_values("score", na_position="last")


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _json(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt_p(value: float) -> str:
    if not np.isfinite(value):
        return "—"
    return "<1e-4" if value < 1e-4 else f"{value:.2g}"


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None or not isinstance(value, int | float | np.number) or not np.isfinite(value):
        return "—"
    return f"{value:+.2f}" if signed else f"{value:.3g}"
