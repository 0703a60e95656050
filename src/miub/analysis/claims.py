"""Verdicts on the paper's claims, one per MIUB estimator, each with its rule and numbers.

Claims (Zhang et al. 2025, "The Scaling Law for LoRA Based on Mutual Information Upper
Bound"; docs/method.md §1): MIUB decreases with rank R, model size N and data size D; it is more
stable than CE and PPL; it follows the laws more accurately than CE and PPL; it agrees
with accuracy. A verdict is ``supported``, ``not supported`` or ``inconclusive``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from miub.analysis.statistics import MetricStats

SUPPORTED, NOT_SUPPORTED, INCONCLUSIVE = "supported", "not supported", "inconclusive"
RHO_THRESHOLD = 0.5
MIN_LEVELS = 3
_AXIS_NAMES = {"N": "model size N", "R": "LoRA rank R", "D": "data size D"}

RULE_DECREASE = (
    f"supported if Spearman ρ ≤ −{RHO_THRESHOLD} and the 95 % bootstrap CI of the log-linear "
    f"slope lies below 0; not supported if that CI lies above 0 (it increases); inconclusive "
    f"otherwise (CI spans 0 or |ρ| small) or with fewer than {MIN_LEVELS} levels"
)
RULE_STABLE = (
    "seed CV (SD/|mean| over seeds, mean over cells), ratio MIUB/baseline on the same cells "
    "with a 95 % bootstrap CI over cells: supported if the CI lies below 1 for both CE and "
    "PPL; not supported if it lies above 1 for either; inconclusive otherwise"
)
RULE_ACCURATE = (
    "law error and extrapolation error of E + A·X^−α, averaged over the axes where both "
    "metrics were fitted: supported if MIUB's is lower than CE's and PPL's in every "
    "comparison; not supported if lower in at most half of them; inconclusive otherwise"
)
RULE_ALIGNED = (
    f"Spearman ρ of the metric with err = 1 − ACC across runs: supported if ρ ≥ "
    f"{RHO_THRESHOLD} and its 95 % bootstrap CI lies above 0; not supported if the CI lies "
    f"below {RHO_THRESHOLD}; inconclusive otherwise"
)


@dataclass
class ClaimVerdict:
    """One claim judged on one estimator."""

    claim: str
    estimator: str
    verdict: str
    reason: str
    rule: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim,
            "estimator": self.estimator,
            "verdict": self.verdict,
            "reason": self.reason,
            "rule": self.rule,
            "numbers": {k: _json(v) for k, v in self.numbers.items()},
        }


def judge_claims(stats: dict[str, MetricStats]) -> list[ClaimVerdict]:
    """All claim verdicts, for every MIUB estimator present."""
    verdicts: list[ClaimVerdict] = []
    for metric in stats.values():
        if metric.metric.kind != "miub":
            continue
        for axis in ("R", "N", "D"):
            verdicts.append(judge_decrease(metric, axis))
        verdicts.append(judge_stability(metric, stats.get("ce"), stats.get("ppl")))
        verdicts.append(judge_accuracy(metric, stats.get("ce"), stats.get("ppl")))
        verdicts.append(judge_alignment(metric))
    return verdicts


def judge_decrease(metric: MetricStats, axis: str) -> ClaimVerdict:
    claim = f"MIUB decreases with {_AXIS_NAMES[axis]}"
    name = metric.metric.name
    along = metric.axes.get(axis)
    if along is None:
        return ClaimVerdict(
            claim, name, INCONCLUSIVE, f"the study does not vary {axis}", RULE_DECREASE
        )
    low, high = along.slope_ci
    numbers = {
        "rho": along.spearman,
        "slope": along.slope,
        "slope_ci": [low, high],
        "levels": along.n_levels,
        "runs": along.n_points,
        "change": along.change,
    }
    summary = (
        f"ρ = {along.spearman:+.2f}, slope {along.slope:+.3g} [{low:+.3g}, {high:+.3g}], "
        f"{along.n_levels} levels, change {along.change:+.0%}"
    )
    if along.n_levels < MIN_LEVELS or not np.isfinite(along.spearman):
        verdict = INCONCLUSIVE
    elif along.spearman <= -RHO_THRESHOLD and high < 0:
        verdict = SUPPORTED
    elif low > 0:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return ClaimVerdict(claim, name, verdict, summary, RULE_DECREASE, numbers)


def _cv_ratio(
    metric: MetricStats, baseline: MetricStats, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, tuple[float, float]]:
    """mean CV(metric) / mean CV(baseline) over shared cells, with a bootstrap CI over cells."""
    both = np.column_stack([metric.cell_cv, baseline.cell_cv.reindex(metric.cell_cv.index)]).astype(
        float
    )
    both = both[np.all(np.isfinite(both), axis=1)]
    if len(both) < 2 or both[:, 1].mean() == 0:
        return float("nan"), (float("nan"), float("nan"))
    ratio = float(both[:, 0].mean() / both[:, 1].mean())
    rng = np.random.default_rng(seed)
    sample = both[rng.integers(0, len(both), (n_resamples, len(both)))]  # (B, cells, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = sample[:, :, 0].mean(1) / sample[:, :, 1].mean(1)
    ratios = ratios[np.isfinite(ratios)]
    low, high = np.percentile(ratios, [2.5, 97.5])
    return ratio, (float(low), float(high))


def judge_stability(
    metric: MetricStats, ce: MetricStats | None, ppl: MetricStats | None
) -> ClaimVerdict:
    claim = "MIUB is more stable across seeds than CE and PPL"
    name = metric.metric.name
    numbers: dict[str, Any] = {"seed_cv": metric.seed_cv}
    ratios: list[tuple[str, float, tuple[float, float]]] = []
    for label, baseline in (("CE", ce), ("PPL", ppl)):
        if baseline is None:
            continue
        ratio, ci = _cv_ratio(metric, baseline)
        numbers[f"seed_cv_{label.lower()}"] = baseline.seed_cv
        numbers[f"cv_ratio_{label.lower()}"] = ratio
        numbers[f"cv_ratio_{label.lower()}_ci"] = list(ci)
        ratios.append((label, ratio, ci))
    fluctuation = {f"fluctuation_{axis}": along.fluctuation for axis, along in metric.axes.items()}
    numbers.update(fluctuation)
    usable = [r for r in ratios if np.isfinite(r[1]) and np.isfinite(r[2][0])]
    reason = f"seed CV {metric.seed_cv:.3g}; " + "; ".join(
        f"CV ratio to {label} {ratio:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]" for label, ratio, ci in ratios
    )
    if len(usable) < 2:
        verdict = INCONCLUSIVE
        reason += "; needs CE and PPL with ≥ 2 seeds in ≥ 2 cells"
    elif all(ci[1] < 1 for _, _, ci in usable):
        verdict = SUPPORTED
    elif any(ci[0] > 1 for _, _, ci in usable):
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return ClaimVerdict(claim, name, verdict, reason, RULE_STABLE, numbers)


def judge_accuracy(
    metric: MetricStats, ce: MetricStats | None, ppl: MetricStats | None
) -> ClaimVerdict:
    claim = "MIUB follows the scaling laws more accurately than CE and PPL"
    name = metric.metric.name
    wins, total = 0, 0
    numbers: dict[str, Any] = {}
    parts: list[str] = []
    for label, baseline in (("CE", ce), ("PPL", ppl)):
        if baseline is None:
            continue
        for quantity in ("law_error", "extrapolation_error"):
            mine, theirs = _paired_mean(metric, baseline, quantity)
            if not (np.isfinite(mine) and np.isfinite(theirs)):
                continue
            total += 1
            wins += int(mine < theirs)
            numbers[f"{quantity}"] = mine
            numbers[f"{quantity}_{label.lower()}"] = theirs
            parts.append(f"{quantity.replace('_', ' ')} {mine:.3g} vs {label} {theirs:.3g}")
    reason = "; ".join(parts) if parts else "no axis where both laws were fitted"
    numbers.update({"wins": wins, "comparisons": total})
    if total == 0:
        verdict = INCONCLUSIVE
    elif wins == total:
        verdict = SUPPORTED
    elif wins <= total / 2:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return ClaimVerdict(claim, name, verdict, reason, RULE_ACCURATE, numbers)


def _paired_mean(metric: MetricStats, baseline: MetricStats, quantity: str) -> tuple[float, float]:
    pairs = [
        (getattr(metric.axes[a], quantity), getattr(baseline.axes[a], quantity))
        for a in metric.axes
        if a in baseline.axes
    ]
    pairs = [(m, b) for m, b in pairs if np.isfinite(m) and np.isfinite(b)]
    if not pairs:
        return float("nan"), float("nan")
    mine, theirs = zip(*pairs, strict=True)
    return float(np.mean(mine)), float(np.mean(theirs))


def judge_alignment(metric: MetricStats) -> ClaimVerdict:
    claim = "MIUB agrees with accuracy (lower MIUB ↔ lower 1 − ACC)"
    name = metric.metric.name
    rho, (low, high) = metric.alignment, metric.alignment_ci
    numbers = {"rho_err": rho, "rho_err_ci": [low, high], "runs": metric.n_aligned_runs}
    if not np.isfinite(rho):
        reason = f"no accuracy to compare with ({metric.n_aligned_runs} runs with both)"
        return ClaimVerdict(claim, name, INCONCLUSIVE, reason, RULE_ALIGNED, numbers)
    reason = f"ρ(metric, 1 − ACC) = {rho:+.2f} [{low:+.2f}, {high:+.2f}] over {metric.n_aligned_runs} runs"
    if rho >= RHO_THRESHOLD and low > 0:
        verdict = SUPPORTED
    elif high < RHO_THRESHOLD:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return ClaimVerdict(claim, name, verdict, reason, RULE_ALIGNED, numbers)


def _json(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
