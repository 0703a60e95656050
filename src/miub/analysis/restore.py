"""Rebuild an :class:`Analysis` from its JSON record (``fits.json``, :meth:`Analysis.to_dict`)
and the results frame it was fitted on, without refitting anything.

Every fitted or judged number (laws with their bootstrap samples, per-axis statistics, the
stability table, the claim verdicts) is read from the record; only the frame of runs (the
data, whose SHA-256 the record's fingerprint holds) and the axis slices through it (a pure
function of the frame) come from ``results.csv``. JSON floats round-trip exactly; ``None``
reads back as NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from miub.analysis.analysis import Analysis
from miub.analysis.claims import ClaimVerdict
from miub.analysis.design import axis_slice
from miub.analysis.results import Metric, Results
from miub.analysis.statistics import AxisStats, MetricStats
from miub.laws import FitResult


def _float(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _numbers(value: Any) -> Any:
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return float("nan") if value is None else value


def _axis_stats(record: dict[str, Any]) -> AxisStats:
    return AxisStats(
        metric=record["metric"],
        axis=record["axis"],
        description=record["slice"],
        n_points=int(record["n_points"]),
        n_levels=int(record["n_levels"]),
        spearman=_float(record["spearman"]),
        spearman_p=_float(record["spearman_p"]),
        slope=_float(record["slope"]),
        slope_ci=(_float(record["slope_ci"][0]), _float(record["slope_ci"][1])),
        law_error=_float(record["law_error"]),
        extrapolation_error=_float(record["extrapolation_error"]),
        fluctuation=_float(record["fluctuation"]),
        change=_float(record["change"]),
        fits={form: FitResult.from_dict(fit) for form, fit in record["fits"].items()},
        notes=list(record["notes"]),
    )


def _claim(record: dict[str, Any]) -> ClaimVerdict:
    return ClaimVerdict(
        claim_id=record["claim_id"],
        estimator=record["estimator"],
        verdict=record["verdict"],
        reason=record["reason"],
        rule=record["rule"],
        statistic=_float(record["statistic"]),
        p=_float(record["p"]),
        p_holm=_float(record["p_holm"]),
        effect=_float(record["effect"]),
        numbers={k: _numbers(v) for k, v in record["numbers"].items()},
    )


def analysis_from_dict(record: dict[str, Any], results: Results) -> Analysis:
    """The :class:`Analysis` that :meth:`Analysis.to_dict` wrote as ``record``, on the frame
    of ``results`` (raises KeyError / TypeError / ValueError on a foreign record)."""
    frame = results.frame
    slices = {}
    for axis in record["axes"]:
        piece = axis_slice(frame, axis)
        if piece is None:
            raise ValueError(f"the results do not vary {axis} any more")
        slices[axis] = piece
    per_axis: dict[str, dict[str, AxisStats]] = {}
    for item in record["per_axis"]:
        per_axis.setdefault(item["metric"], {})[item["axis"]] = _axis_stats(item)
    stats = {
        name: MetricStats(
            metric=Metric(name, info["kind"], info["label"]),
            nsr=_float(info["nsr"]),
            alignment=_float(info["alignment"]),
            alignment_ci=(_float(info["alignment_ci"][0]), _float(info["alignment_ci"][1])),
            n_aligned_runs=int(info["n_aligned_runs"]),
            axes=per_axis.get(name, {}),
        )
        for name, info in record["metrics"].items()
    }
    joint: dict[str, dict[str, FitResult]] = {}
    for item in record["joint"]:
        fit = FitResult.from_dict(item)
        joint.setdefault(item["metric"], {})[fit.form] = fit
    rows = [
        {k: (np.nan if v is None else v) for k, v in row.items()} for row in record["stability"]
    ]
    stability = (
        pd.DataFrame(rows).set_index("metric") if rows else pd.DataFrame(columns=["kind", "score"])
    )
    return Analysis(
        frame=frame,
        metrics=[stats[name].metric for name in stats] or results.metrics,
        slices=slices,
        stats=stats,
        joint=joint,
        claims=[_claim(item) for item in record["claims"]],
        stability=stability,
        notes=list(record["notes"]),
        settings=dict(record["settings"]),
    )
