"""analyze(): slices, statistics, the stability table and claim verdicts on synthetic sweeps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from miub import analysis
from miub.errors import MiubUserError
from miub.testing.synthetic_results import synthetic_results

BOOTSTRAP = 30  # small for speed; the CLI default is 1000


@pytest.fixture(scope="module")
def slices() -> analysis.Analysis:
    return analysis.analyze(synthetic_results("slices"), bootstrap=BOOTSTRAP, joint_bootstrap=0)


def test_axis_slices_go_through_the_centre() -> None:
    frame = synthetic_results("slices")
    rank = analysis.axis_slice(frame, "R")
    assert rank is not None
    assert rank.levels == [1, 2, 4, 8, 16]
    assert rank.fixed["n_params"] == 800000 and rank.fixed["data_size"] == 128
    assert len(rank.rows) == 10  # 5 levels × 2 seeds
    factorial = analysis.axis_slice(synthetic_results("factorial", seeds=2), "D")
    assert factorial is not None and factorial.levels == [64, 128, 256, 512]
    assert factorial.fixed["rank"] in (2, 4)  # a middle level of the other axes


def test_statistics_match_the_synthetic_laws(slices: analysis.Analysis) -> None:
    assert slices.axes == ["N", "R", "D"]
    js_mi = slices.stats["js_mi"]
    assert js_mi.axes["R"].spearman < -0.9
    assert js_mi.axes["R"].slope_ci[1] < 0
    assert slices.stats["token_jsd"].axes["R"].spearman > 0.9
    ce = slices.stats["ce"]
    assert ce.axes["N"].fits["additive"].ok
    assert ce.axes["N"].law_error < 0.02
    assert 0 < ce.nsr < js_mi.nsr  # 1 % noise vs 3 %, on ranks
    assert ce.alignment > 0.5  # CE up ↔ 1 − ACC up in the synthetic world
    assert ce.axes["R"].fluctuation == pytest.approx(
        ce.axes["R"].fits["additive"].predict(pd.DataFrame({"rank": [1.0]}))[0]
        / ce.axes["R"].fits["additive"].predict(pd.DataFrame({"rank": [16.0]}))[0],
        rel=0.05,
    )


def test_claim_verdicts_follow_the_rules(slices: analysis.Analysis) -> None:
    verdicts = {(c.estimator, c.claim_id): c for c in slices.claims}
    # Claims are judged on dependence metrics only (token_jsd is a registry baseline).
    assert {c.estimator for c in slices.claims} == {"js_mi"}
    assert verdicts[("js_mi", "decreases_R")].verdict == "supported"
    stable = verdicts[("js_mi", "stabler")]
    assert stable.numbers["nsr_ratio_ce"] > 1  # 3 % noise vs CE's 1 %
    # ... but 2 seeds cannot test it: the jackknife over seeds needs 3 (a bootstrap of 2
    # seeds has 3 distinct resamples and no calibrated p-value)
    assert stable.verdict == "inconclusive" and "≥ 3 seeds" in stable.reason
    for claim in slices.claims:
        assert claim.verdict in analysis.VERDICTS
        assert claim.rule and claim.reason


def test_token_jsd_is_oriented_by_the_registry(slices: analysis.Analysis) -> None:
    """token_jsd is higher-is-better and rises with R: oriented, it is the best at high R.
    (The old analysis judged it unoriented; this locks the fix in.)"""
    assert slices.stats["token_jsd"].axes["R"].spearman > 0.9  # raw values rise
    from miub.analysis.claims import oriented_slices

    data = oriented_slices(slices.frame, slices.slices, "token_jsd")["R"]
    from miub.analysis.scalefree import trend

    assert trend(data.x, data.y).slope < 0


def test_ce_and_ppl_score_alike(slices: analysis.Analysis) -> None:
    """PPL = exp(CE): every scored statistic is a rank statistic, so their rows agree."""
    table = slices.stability
    for column in ("nsr", "abs_rho", "rho_err", "score"):
        assert table.loc["ce", column] == pytest.approx(table.loc["ppl", column], rel=1e-9)


def test_stability_table_and_summary(slices: analysis.Analysis) -> None:
    table = slices.stability
    assert set(table.index) == {"js_mi", "token_jsd", "ce", "ppl", "err"}  # cosine: no orientation
    assert table["score"].is_monotonic_increasing
    assert slices.best_metric() == table.index[0]
    rows = slices.summary_rows()
    assert rows[0]["metric"] == table.index[0]
    assert {"NSR", "ρ R", "ρ 1−ACC", "claims"} <= set(rows[0])
    json.dumps(slices.to_dict(), allow_nan=False)


def test_one_axis_study_is_inconclusive_elsewhere() -> None:
    frame = synthetic_results("slices")
    frame = frame[(frame["model"] == "tiny-s") & (frame["data_size"] == 128)]
    result = analysis.analyze(frame, bootstrap=0, joint_bootstrap=0)
    assert result.axes == ["R"]
    verdicts = {c.claim_id: c.verdict for c in result.claims if c.estimator == "js_mi"}
    assert verdicts["decreases_N"] == "not enough levels"
    assert not result.joint


def test_too_few_levels_is_reported_not_raised() -> None:
    frame = synthetic_results("slices")
    frame = frame[(frame["model"] == "tiny-s") & (frame["data_size"] == 128)]
    frame = frame[frame["rank"].isin([2, 4])]
    result = analysis.analyze(frame, bootstrap=0, joint_bootstrap=0)
    along = result.stats["ce"].axes["R"]
    assert along.fits["additive"].status == "too_few_points"
    assert along.fits["power"].ok
    claim = next(c for c in result.claims if c.claim_id == "fits_better")
    assert claim.verdict == "not enough levels"  # 2 levels: nothing to hold out


def test_bad_frames() -> None:
    frame = synthetic_results("slices")
    frame.loc[0, "status"] = "failed"
    prepared = analysis.prepare_frame(frame.drop(columns=["js_mi", "js_mi_stderr"]))
    assert len(prepared.frame) == len(frame) - 1
    assert any("unfinished" in note for note in prepared.notes)
    assert "js_mi" not in {m.name for m in prepared.metrics}
    renamed = analysis.prepare_frame(frame.rename(columns={"js_mi": "js-mi"}))
    assert "js_mi" in {m.name for m in renamed.metrics}
    with pytest.raises(MiubUserError, match="axis columns"):
        analysis.prepare_frame(frame.drop(columns=["n_params", "rank", "data_size"]))
    with pytest.raises(MiubUserError, match="no finished runs"):
        analysis.prepare_frame(frame.assign(status="failed"))
    assert np.isfinite(analysis.prepare_frame(frame).frame["err"]).all()
