"""Which metric follows the scaling laws most accurately and stably — and do the paper's
claims hold?

    from miub import analysis
    results = analysis.load_results("runs/demo")          # results.csv of a sweep
    report = analysis.analyze(results, bootstrap=1000)    # or analyze(dataframe)
    report.stability      # one row per metric, sorted by score
    report.claims         # ClaimVerdict per claim id and dependence metric
    report.summary_rows() # compact rows for a terminal
"""

from __future__ import annotations

from miub.analysis.analysis import SCORE_RULE, Analysis, analyze, stability_table
from miub.analysis.claims import CLAIM_IDS, VERDICTS, ClaimId, ClaimVerdict, Verdict, judge_claims
from miub.analysis.design import AxisSlice, axis_slice, cell_columns
from miub.analysis.results import Metric, Results, load_results, prepare_frame
from miub.analysis.statistics import AxisStats, MetricStats

__all__ = [
    "CLAIM_IDS",
    "SCORE_RULE",
    "VERDICTS",
    "Analysis",
    "AxisSlice",
    "AxisStats",
    "ClaimId",
    "ClaimVerdict",
    "Metric",
    "MetricStats",
    "Results",
    "Verdict",
    "analyze",
    "axis_slice",
    "cell_columns",
    "judge_claims",
    "load_results",
    "prepare_frame",
    "stability_table",
]
