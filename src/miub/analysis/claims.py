"""Verdicts on the paper's claims, one per dependence metric, each a calibrated test.

Claims (Zhang et al. 2025; docs/method.md §1), with ids: ``decreases_R``, ``decreases_N``,
``decreases_D`` (the metric decreases with rank, model size, data size), ``stabler`` (more
stable across seeds than CE and PPL), ``fits_better`` (follows a law more accurately than CE
and PPL on held-out levels), ``tracks_acc`` (agrees with accuracy beyond what the design
alone explains). Every metric is oriented by the registry and ranked within each axis slice
(:mod:`miub.analysis.scalefree`), so verdicts are unchanged under any increasing map of a
metric: CE and PPL get identical numbers. A verdict is one of :data:`VERDICTS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd
from scipy import stats

from miub.analysis import scalefree as sf
from miub.analysis import seedtests as st
from miub.analysis.design import AxisSlice, cell_columns
from miub.analysis.results import Metric
from miub.analysis.slices import SliceData, oriented_slices
from miub.metrics import get_metric

__all__ = ["SliceData", "oriented_slices"]  # re-exported: the input of every judge below

Verdict = Literal["supported", "not supported", "inconclusive", "not enough levels"]
ClaimId = Literal[
    "decreases_R", "decreases_N", "decreases_D", "stabler", "fits_better", "tracks_acc"
]
VERDICTS: tuple[Verdict, ...] = get_args(Verdict)
CLAIM_IDS: tuple[ClaimId, ...] = get_args(ClaimId)
ALPHA = 0.05
MIN_EFFECT = 2.0  # seed SDs of change across the axis for "decreases"
CI_LEVEL = 0.95
_AXIS_NAMES = {"N": "model size N", "R": "LoRA rank R", "D": "data size D"}
CLAIMS: dict[ClaimId, str] = {
    "decreases_R": "decreases with LoRA rank R",
    "decreases_N": "decreases with model size N",
    "decreases_D": "decreases with data size D",
    "stabler": "is more stable across seeds than CE and PPL",
    "fits_better": "follows a law on held-out levels more accurately than CE and PPL",
    "tracks_acc": "tracks 1 − ACC beyond what the design (N, R, D) explains",
}
SHORT: dict[ClaimId, str] = {
    "decreases_R": "↓ R",
    "decreases_N": "↓ N",
    "decreases_D": "↓ D",
    "stabler": "stabler",
    "fits_better": "fits better",
    "tracks_acc": "≈ ACC",
}

RULE_DECREASE = (
    "OLS slope of the oriented, within-slice-ranked metric on log X, t-test with n − 2 df, "
    f"Holm-adjusted over metrics × axes: supported if p_Holm < {ALPHA}, slope < 0 and the "
    f"fitted change across the axis is ≥ {MIN_EFFECT:g} pooled seed SDs; not supported if "
    "the same holds with slope > 0 (it increases); inconclusive otherwise"
)
RULE_STABLE = (
    "noise-to-signal ratio NSR = pooled within-cell seed SD ÷ SD of the cell means along "
    "each axis (on ranks), averaged over axes; T = log NSR(metric) − log NSR(the stabler of "
    "CE and PPL); leave-one-seed-out jackknife t-test of T = 0 (n − 1 df, two-sided), "
    f"Holm-adjusted over metrics: supported if p_Holm < {ALPHA} and T < 0, not supported if "
    f"p_Holm < {ALPHA} and T > 0, inconclusive otherwise (needs ≥ 3 seeds); effect = the NSR "
    f"ratio e^T; the {CI_LEVEL:.0%} percentile bootstrap over seeds of each ratio is shown "
    "beside it (not Holm-adjusted, and narrow with few seeds)"
)
RULE_ACCURATE = (
    "leave-one-end-level-out error |ŷ − ȳ| ÷ pooled seed SD of the log-linear law (2 "
    "parameters, rises or falls), mean over both ends of every axis with ≥ 3 levels; "
    "T = error(metric) − error(the better of CE and PPL), in seed SDs; leave-one-seed-out "
    f"jackknife t-test of T = 0 (n − 1 df), Holm-adjusted over metrics: supported if p_Holm "
    f"< {ALPHA} and T < 0, not supported if p_Holm < {ALPHA} and T > 0, inconclusive "
    "otherwise; effect = T; not enough levels without an axis of ≥ 3 levels"
)
RULE_ALIGNED = (
    "within-slice Spearman ρ with 1 − ACC (weighted by runs) versus the design-only score "
    "|ρ(log X, 1 − ACC)| in the same slices, and the partial correlation given the design "
    "(within-cell residual ranks, one-sided t-test, Holm over metrics): supported if ρ beats "
    f"the design-only score and p_Holm < {ALPHA}; not supported if ρ does not beat it"
)


@dataclass
class ClaimVerdict:
    """One claim judged on one metric: the test's statistic, raw and Holm p, and effect."""

    claim_id: ClaimId
    estimator: str
    verdict: Verdict
    reason: str
    rule: str
    statistic: float = float("nan")
    p: float = float("nan")
    p_holm: float = float("nan")
    effect: float = float("nan")
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def claim(self) -> str:
        return f"{self.estimator} {CLAIMS[self.claim_id]}"

    @property
    def short(self) -> str:
        return SHORT[self.claim_id]

    def to_dict(self) -> dict[str, Any]:
        keys = ("statistic", "p", "p_holm", "effect")
        return {
            "claim_id": self.claim_id,
            "claim": self.claim,
            "estimator": self.estimator,
            "verdict": self.verdict,
            "reason": self.reason,
            "rule": self.rule,
            **{key: _json(getattr(self, key)) for key in keys},
            "numbers": {k: _json(v) for k, v in self.numbers.items()},
        }


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (NaN entries stay NaN and do not count)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[index]))
        out[index] = running
    return out


def percentile_ci(samples: np.ndarray, level: float = CI_LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval (low, high) of finite ``samples``."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [tail, 1.0 - tail])
    return float(low), float(high)


def judge_claims(
    frame: pd.DataFrame,
    slices: dict[str, AxisSlice],
    metrics: list[Metric],
    bootstrap: int = 400,
    seed: int = 0,
) -> list[ClaimVerdict]:
    """All verdicts for every oriented dependence metric present, Holm within each family."""
    judged = [m for m in metrics if m.kind == "dependence" and get_metric(m.name).oriented]
    data = {m.name: oriented_slices(frame, slices, m.name) for m in judged}
    references = {
        m.name: oriented_slices(frame, slices, m.name) for m in metrics if m.name in ("ce", "ppl")
    }
    n_seeds = int(frame["seed"].nunique()) if "seed" in frame.columns else 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_seeds, (bootstrap, n_seeds)) if n_seeds >= 2 else None
    verdicts: list[ClaimVerdict] = []
    decreases = [
        judge_decrease(m.name, axis, data[m.name].get(axis)) for m in judged for axis in _AXES
    ]
    _apply_holm(decreases, judge_decrease_from_holm)
    verdicts += decreases
    for judge in (judge_stability, judge_accuracy):
        family = [judge(m.name, data[m.name], references, draws, n_seeds) for m in judged]
        _apply_holm(family, judge_comparison_from_holm)
        verdicts += family
    aligned = [judge_alignment(frame, slices, m.name) for m in judged]
    _apply_holm(aligned, judge_alignment_from_holm)
    verdicts += aligned
    order = {claim: i for i, claim in enumerate(CLAIM_IDS)}
    names = [m.name for m in judged]
    return sorted(verdicts, key=lambda v: (names.index(v.estimator), order[v.claim_id]))


_AXES = ("R", "N", "D")


def _apply_holm(verdicts: list[ClaimVerdict], decide: Any) -> None:
    adjusted = holm([v.p for v in verdicts])
    for verdict, p_holm in zip(verdicts, adjusted, strict=True):
        verdict.p_holm = float(p_holm)
        decide(verdict)


def judge_decrease(name: str, axis: str, data: SliceData | None) -> ClaimVerdict:
    """The slope test along ``axis``; the verdict is set once the family's Holm p is known."""
    claim_id: ClaimId = f"decreases_{axis}"  # type: ignore[assignment]
    if data is None or np.isfinite(data.y).any(axis=1).sum() < 2:
        reason = f"the study does not vary {_AXIS_NAMES[axis]} (fewer than 2 levels with runs)"
        return ClaimVerdict(claim_id, name, "not enough levels", reason, RULE_DECREASE)
    result = sf.trend(data.x, data.y)
    numbers = {
        "slope_rank": result.slope,
        "df": result.df,
        "levels": int(np.isfinite(data.y).any(axis=1).sum()),
        "nsr": sf.noise_to_signal(data.y),
        "eta2": sf.eta_squared(data.y),
        "kendall_w": sf.kendall_w(data.y),
    }
    return ClaimVerdict(
        claim_id, name, "inconclusive", "", RULE_DECREASE,
        statistic=result.t, p=result.p, effect=result.effect, numbers=numbers,
    )  # fmt: skip


def judge_decrease_from_holm(verdict: ClaimVerdict) -> None:
    if verdict.verdict == "not enough levels":
        return
    significant = np.isfinite(verdict.p_holm) and verdict.p_holm < ALPHA
    big = np.isfinite(verdict.effect) and abs(verdict.effect) >= MIN_EFFECT
    if significant and big:
        verdict.verdict = "supported" if verdict.statistic < 0 else "not supported"
    verdict.reason = (
        f"t = {verdict.statistic:+.2f} (df {verdict.numbers['df']}), p = {verdict.p:.2g}, "
        f"p_Holm = {verdict.p_holm:.2g}, change {verdict.effect:+.2f} seed SDs over "
        f"{verdict.numbers['levels']} levels; NSR {verdict.numbers['nsr']:.2f}, "
        f"η² {verdict.numbers['eta2']:.2f}, W {verdict.numbers['kendall_w']:.2f}"
    )


def _references_or_none(
    name: str, references: dict[str, dict[str, SliceData]], claim_id: ClaimId, rule: str
) -> ClaimVerdict | None:
    if not references:
        reason = "needs CE or PPL in the results"
        return ClaimVerdict(claim_id, name, "inconclusive", reason, rule)
    return None


def _test_numbers(test: st.SeedTest, key: str) -> dict[str, Any]:
    return {key: test.estimate, f"{key}_ci": list(test.ci), "df": test.df, "t": test.t}


def judge_stability(
    name: str,
    data: dict[str, SliceData],
    references: dict[str, dict[str, SliceData]],
    draws: np.ndarray | None,
    n_seeds: int,
) -> ClaimVerdict:
    """NSR ratio to the stabler of CE and PPL, jackknife-t over seeds (see :data:`RULE_STABLE`);
    the verdict is set once the family's Holm p is known."""
    missing = _references_or_none(name, references, "stabler", RULE_STABLE)
    if missing is not None:
        return missing
    mine = float(st.mean_nsr(data)[0])
    mine_samples = st.mean_nsr(data, draws) if draws is not None else None
    numbers: dict[str, Any] = {"nsr": float(mine)}
    for ref, ref_data in references.items():
        theirs = float(st.mean_nsr(ref_data)[0])
        numbers[f"nsr_{ref}"] = theirs
        numbers[f"nsr_ratio_{ref}"] = _ratio(float(mine), theirs)
        samples = np.zeros(0)
        if mine_samples is not None and draws is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                samples = mine_samples / st.mean_nsr(ref_data, draws)
        numbers[f"nsr_ratio_{ref}_ci"] = list(percentile_ci(samples))
    test = st.seed_test(st.log_nsr_ratio(data, references), draws, n_seeds)
    numbers.update(_test_numbers(test, "log_nsr_ratio"))
    effect = float(np.exp(test.estimate)) if np.isfinite(test.estimate) else float("nan")
    return ClaimVerdict(
        "stabler", name, "inconclusive", "", RULE_STABLE,
        statistic=test.t, p=test.p, effect=effect, numbers=numbers,
    )  # fmt: skip


def judge_accuracy(
    name: str,
    data: dict[str, SliceData],
    references: dict[str, dict[str, SliceData]],
    draws: np.ndarray | None,
    n_seeds: int,
) -> ClaimVerdict:
    """Held-out error in noise units against the better of CE and PPL, jackknife-t over seeds
    (see :data:`RULE_ACCURATE`); the verdict is set once the family's Holm p is known."""
    missing = _references_or_none(name, references, "fits_better", RULE_ACCURATE)
    if missing is not None:
        return missing
    mine = float(st.mean_held_out(data)[0])
    if not np.isfinite(mine):
        reason = "no axis with ≥ 3 levels and seed replicates: nothing to hold out"
        return ClaimVerdict("fits_better", name, "not enough levels", reason, RULE_ACCURATE)
    numbers: dict[str, Any] = {"held_out_error": mine}
    mine_samples = st.mean_held_out(data, draws) if draws is not None else None
    for ref, ref_data in references.items():
        numbers[f"held_out_error_{ref}"] = float(st.mean_held_out(ref_data)[0])
        samples = (
            mine_samples - st.mean_held_out(ref_data, draws)
            if mine_samples is not None and draws is not None
            else np.zeros(0)
        )
        numbers[f"difference_{ref}_ci"] = list(percentile_ci(samples))
    test = st.seed_test(st.held_out_difference(data, references), draws, n_seeds)
    numbers.update(_test_numbers(test, "difference"))
    return ClaimVerdict(
        "fits_better", name, "inconclusive", "", RULE_ACCURATE,
        statistic=test.t, p=test.p, effect=test.estimate, numbers=numbers,
    )  # fmt: skip


def judge_comparison_from_holm(verdict: ClaimVerdict) -> None:
    """Set a "stabler" / "fits better" verdict from its Holm p and the sign of its statistic:
    supported if p_Holm < ALPHA and the metric beats the best reference (t < 0), not
    supported if p_Holm < ALPHA and it is beaten (t > 0), inconclusive otherwise."""
    if verdict.verdict == "not enough levels" or not verdict.numbers:
        return
    significant = bool(np.isfinite(verdict.p_holm) and verdict.p_holm < ALPHA)
    if significant:
        verdict.verdict = "supported" if verdict.statistic < 0 else "not supported"
    numbers = verdict.numbers
    if verdict.claim_id == "stabler":
        refs = [
            k[len("nsr_ratio_") :]
            for k in numbers
            if k.startswith("nsr_ratio_") and not k.endswith("_ci")
        ]
        head = f"NSR {numbers['nsr']:.3g}; " + "; ".join(
            f"ratio to {ref.upper()} {numbers[f'nsr_ratio_{ref}']:.2f} "
            f"[{numbers[f'nsr_ratio_{ref}_ci'][0]:.2f}, {numbers[f'nsr_ratio_{ref}_ci'][1]:.2f}]"
            for ref in refs
        )
        effect = f"NSR ratio to the best reference {verdict.effect:.2f}"
    else:
        refs = [k[len("held_out_error_") :] for k in numbers if k.startswith("held_out_error_")]
        head = f"held-out error {numbers['held_out_error']:.2f} seed SDs; " + "; ".join(
            f"{ref.upper()} {numbers[f'held_out_error_{ref}']:.2f} "
            f"(difference CI [{numbers[f'difference_{ref}_ci'][0]:+.2f}, "
            f"{numbers[f'difference_{ref}_ci'][1]:+.2f}])"
            for ref in refs
        )
        effect = f"difference to the best reference {verdict.effect:+.2f} seed SDs"
    if not np.isfinite(verdict.p):
        verdict.reason = head + "; needs ≥ 3 seeds for the test"
        return
    verdict.reason = (
        f"{head}; {effect}; jackknife t = {verdict.statistic:+.2f} (df {numbers['df']}), "
        f"p = {verdict.p:.2g}, p_Holm = {verdict.p_holm:.2g}"
    )


def judge_alignment(frame: pd.DataFrame, slices: dict[str, AxisSlice], name: str) -> ClaimVerdict:
    """Stratified ρ with 1 − ACC, the design-only score, and partial ρ given design and CE."""
    if "err" not in frame.columns or not np.isfinite(frame["err"].to_numpy(float)).any():
        reason = "no accuracy in the results"
        return ClaimVerdict("tracks_acc", name, "inconclusive", reason, RULE_ALIGNED)
    spec = get_metric(name)
    rho_sum = design_sum = weight = 0.0
    for piece in slices.values():
        metric = spec.orient(piece.rows[name].to_numpy(float))
        err = piece.rows["err"].to_numpy(float)
        level = np.log(piece.rows[piece.column].to_numpy(float))
        rho, design = sf.spearman(metric, err), sf.spearman(level, err)
        if np.isfinite(rho) and np.isfinite(design):
            n = float(np.isfinite(metric).sum())
            rho_sum, design_sum, weight = (
                rho_sum + n * rho,
                design_sum + n * abs(design),
                weight + n,
            )
    partial, p, df = partial_given_design(frame, name)
    partial_ce = partial_given(frame, name, "ce") if "ce" in frame.columns else float("nan")
    if weight == 0 or not np.isfinite(partial):
        reason = "too few runs with both the metric and 1 − ACC"
        return ClaimVerdict("tracks_acc", name, "inconclusive", reason, RULE_ALIGNED)
    rho, design = rho_sum / weight, design_sum / weight
    numbers = {
        "rho_within_slices": rho,
        "rho_design_only": design,
        "partial_given_design": partial,
        "partial_given_design_df": df,
        "partial_given_ce": partial_ce,
    }
    return ClaimVerdict(
        "tracks_acc", name, "inconclusive", "", RULE_ALIGNED,
        statistic=partial, p=p, effect=rho - design, numbers=numbers,
    )  # fmt: skip


def judge_alignment_from_holm(verdict: ClaimVerdict) -> None:
    if not verdict.numbers:
        return
    rho, design = verdict.numbers["rho_within_slices"], verdict.numbers["rho_design_only"]
    if rho <= design + 1e-9:
        verdict.verdict = "not supported"
    elif verdict.p_holm < ALPHA:
        verdict.verdict = "supported"
    verdict.reason = (
        f"ρ within slices {rho:+.2f} vs design-only {design:+.2f}; partial r given design "
        f"{verdict.statistic:+.2f} (p = {verdict.p:.2g}, p_Holm = {verdict.p_holm:.2g}); "
        f"partial given CE {verdict.numbers['partial_given_ce']:+.2f}"
    )


def _within_cell_ranks(frame: pd.DataFrame, column: str, orient: bool) -> pd.Series:
    values = frame[column].to_numpy(float)
    if orient:
        values = get_metric(column).orient(values)
    ranks = pd.Series(stats.rankdata(values, nan_policy="omit"), index=frame.index)
    columns = cell_columns(frame)
    if not columns:
        return ranks - ranks.mean()
    return ranks - ranks.groupby([frame[c] for c in columns]).transform("mean")


def partial_given_design(frame: pd.DataFrame, name: str) -> tuple[float, float, int]:
    """Pearson r of within-cell residual ranks of the metric and 1 − ACC, its one-sided p
    (r > 0) with df = n − cells − 1, and df."""
    data = frame[np.isfinite(frame[name].to_numpy(float)) & np.isfinite(frame["err"])]
    columns = cell_columns(data)
    cells = data.groupby(columns).ngroups if columns else 1
    df = len(data) - cells - 1
    if df < 1:
        return float("nan"), float("nan"), max(df, 0)
    a = _within_cell_ranks(data, name, True).to_numpy()
    b = _within_cell_ranks(data, "err", False).to_numpy()
    if np.ptp(b) == 0:
        return float("nan"), float("nan"), df
    if np.ptp(a) == 0:  # constant within cells: nothing beyond the design
        return 0.0, 1.0, df
    r = float(np.corrcoef(a, b)[0, 1])
    t = r * np.sqrt(df / max(1e-12, 1 - r**2))
    return r, float(stats.t.sf(t, df)), df


def partial_given(frame: pd.DataFrame, name: str, control: str) -> float:
    """Partial Spearman of the metric with 1 − ACC given ``control`` across all runs."""
    if name == control:
        return float("nan")
    data = frame[[name, "err", control]].dropna()
    if len(data) < 4:
        return float("nan")
    ranks = np.column_stack(
        [
            stats.rankdata(get_metric(name).orient(data[name].to_numpy(float))),
            stats.rankdata(data["err"]),
            stats.rankdata(get_metric(control).orient(data[control].to_numpy(float))),
        ]
    )
    r = np.corrcoef(ranks, rowvar=False)
    denominator = np.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2))
    return float((r[0, 1] - r[0, 2] * r[1, 2]) / denominator) if denominator > 0 else float("nan")


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 and np.isfinite(b) else float("nan")


def _json(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
