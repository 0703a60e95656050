"""Verdict rules on synthetic frames with known answers: invariance, size, mutations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from miub.analysis import claims as cl
from miub.analysis import scalefree as sf
from miub.analysis.design import AXES, axis_slice
from miub.analysis.results import prepare_frame

LEVELS: dict[str, list[float]] = {
    "N": [1e5, 4e5, 1.6e6, 6.4e6],
    "R": [1, 4, 16, 64],
    "D": [32, 96, 288],
}
CENTRE = {"N": 4e5, "R": 4, "D": 96}
COLUMN = {"N": "n_params", "R": "rank", "D": "data_size"}


def frame(
    seeds: int = 5,
    seed: int = 0,
    js_slope: float = -1.0,
    js_noise: float = 0.05,
    js_design_only: bool = False,
) -> pd.DataFrame:
    """A slices design; CE falls along every axis with 2 % noise, err follows CE plus a
    seed-level shock that js_mi shares (unless ``js_design_only``)."""
    rng = np.random.default_rng(seed)
    configs = {(CENTRE["N"], CENTRE["R"], CENTRE["D"])}
    for axis, levels in LEVELS.items():
        for level in levels:
            point = dict(CENTRE, **{axis: level})
            configs.add((point["N"], point["R"], point["D"]))
    rows = []
    for n, r, d in sorted(configs):
        for s in range(seeds):
            drive = -0.1 * (np.log(n) + np.log(r) + np.log(d))
            shock = rng.normal(0, 0.05)
            ce = 3 + drive + rng.normal(0, 0.02)
            err = 0.6 + 0.1 * drive + shock
            js = 1 + js_slope * 0.1 * (np.log(n) + np.log(r) + np.log(d))
            js += (0 if js_design_only else 2 * shock) + rng.normal(0, js_noise)
            rows.append({"n_params": n, "rank": r, "data_size": d, "seed": s, "task": "t",
                         "status": "done", "ce": ce, "ppl": np.exp(ce), "acc": 1 - err,
                         "js_mi": js})  # fmt: skip
    return pd.DataFrame(rows)


def verdicts(data: pd.DataFrame, bootstrap: int = 200) -> dict[tuple[str, str], cl.ClaimVerdict]:
    results = prepare_frame(data)
    slices = {a: p for a in AXES if (p := axis_slice(results.frame, a)) is not None}
    out = cl.judge_claims(results.frame, slices, results.metrics, bootstrap=bootstrap, seed=1)
    return {(v.estimator, v.claim_id): v for v in out}


def numbers(v: cl.ClaimVerdict) -> tuple:
    return (v.verdict, v.statistic, v.p, v.p_holm, v.effect)


def test_every_verdict_is_unchanged_under_increasing_maps() -> None:
    base = frame()
    before = verdicts(base)
    moved = base.copy()
    moved["js_mi"] = -3.0 + 7.0 * moved["js_mi"]  # affine, b > 0
    moved["ce"] = np.exp(moved["ce"])  # monotone: CE → PPL
    moved["ppl"] = np.log(moved["ppl"])
    after = verdicts(moved)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_allclose(
            [x for x in numbers(after[key])[1:]], [x for x in numbers(before[key])[1:]],
            rtol=1e-9, equal_nan=True,
        )  # fmt: skip
        assert after[key].verdict == before[key].verdict


def test_orientation_is_read_from_the_registry() -> None:
    """A higher-is-better dependence metric increasing along R is judged as decreasing in its
    oriented form; js_mi is lower-is-better, so negating it reverses the verdict."""
    data = frame()
    flipped = data.assign(js_mi=-data["js_mi"])
    assert verdicts(data)[("js_mi", "decreases_R")].verdict == "supported"
    assert verdicts(flipped)[("js_mi", "decreases_R")].verdict == "not supported"


def test_ce_and_ppl_get_identical_numbers() -> None:
    v = verdicts(frame())
    numbers_ = v[("js_mi", "stabler")].numbers
    assert numbers_["nsr_ratio_ce"] == numbers_["nsr_ratio_ppl"]
    assert numbers_["nsr_ratio_ce_ci"] == numbers_["nsr_ratio_ppl_ci"]
    fits = v[("js_mi", "fits_better")].numbers
    assert fits["held_out_error_ce"] == fits["held_out_error_ppl"]


@pytest.mark.parametrize(("levels", "seeds"), [((4, 4, 3), 5), ((3, 3, 2), 2)])
def test_decrease_has_its_nominal_size_under_the_null(levels: tuple, seeds: int) -> None:
    """No trend: 'supported' and 'not supported' each ≤ 3 % of 400 × 3 seeded simulations."""
    rng = np.random.default_rng(123)
    supported = not_supported = total = 0
    for _ in range(400):
        for n_levels in levels:
            x = np.log(np.geomspace(1, 64, n_levels))
            y = sf.slice_ranks(rng.normal(size=(n_levels, seeds)))
            v = cl.judge_decrease("js_mi", "R", cl.SliceData(x, y))
            v.p_holm = v.p
            cl.judge_decrease_from_holm(v)
            supported += v.verdict == "supported"
            not_supported += v.verdict == "not supported"
            total += 1
    assert supported / total <= 0.03 and not_supported / total <= 0.03


def test_trend_t_and_p_match_scipy_linregress() -> None:
    rng = np.random.default_rng(0)
    x = np.log(np.array([1.0, 4.0, 16.0, 64.0]))
    y = rng.normal(size=(4, 3)) - 0.5 * x[:, None]
    result = sf.trend(x, y)
    ref = stats.linregress(np.repeat(x, 3), y.ravel())
    assert result.slope == pytest.approx(ref.slope)
    assert result.p == pytest.approx(ref.pvalue)
    assert result.df == 10


def test_small_change_is_not_supported_even_if_significant() -> None:
    """A decrease of < 2 seed SDs across the axis is not 'supported' (effect floor)."""
    x = np.log(np.array([1.0, 4.0, 16.0, 64.0]))
    noise = np.tile(np.array([-1.0, 0.0, 1.0] * 10), (4, 1))  # (4, 30), SD 0.83
    y = noise - 0.25 * (x[:, None] - x.mean())  # change ≈ 1.04 / 0.83 ≈ 1.25 seed SDs
    v = cl.judge_decrease("js_mi", "R", cl.SliceData(x, y))
    v.p_holm = v.p
    cl.judge_decrease_from_holm(v)
    assert v.p < 1e-4 and abs(v.effect) < 2 and v.verdict == "inconclusive"


def test_holm_matches_hand_computation() -> None:
    # sorted p: 0.01, 0.02, 0.04, 0.5 → 4·0.01, max(., 3·0.02), max(., 2·0.04), max(., 0.5)
    adjusted = cl.holm([0.04, 0.01, 0.5, 0.02, float("nan")])
    np.testing.assert_allclose(adjusted[:4], [0.08, 0.04, 0.5, 0.06])
    assert np.isnan(adjusted[4])


def test_percentile_ci_is_a_95_percent_interval_low_then_high() -> None:
    draws = np.random.default_rng(0).normal(size=200_000)
    low, high = cl.percentile_ci(draws)
    assert low == pytest.approx(-1.96, abs=0.02) and high == pytest.approx(1.96, abs=0.02)


def test_nsr_kendall_w_and_eta2_known_values() -> None:
    y = np.array([[0.0, 2.0], [10.0, 12.0]])  # seed SD √2, cell means 1, 11 (SD √50)
    assert sf.noise_to_signal(y) == pytest.approx(np.sqrt(2) / np.sqrt(50))
    assert sf.kendall_w(y) == pytest.approx(1.0)  # both seeds rank the levels alike
    assert sf.eta_squared(y) == pytest.approx(100 / 104)
    assert sf.kendall_w(np.array([[0.0, 1.0], [1.0, 0.0]])) == pytest.approx(0.0)


def test_stabler_follows_the_noise() -> None:
    quiet = frame(seeds=8, js_noise=0.001, js_design_only=True)  # 5 seeds: p ≈ 0.05
    quiet["ce"] += np.random.default_rng(5).normal(0, 0.2, len(quiet))  # CE noisier than js_mi
    quiet["ppl"] = np.exp(quiet["ce"])
    noisy = frame(seeds=8, js_noise=0.5, js_design_only=True)
    assert verdicts(quiet)[("js_mi", "stabler")].verdict == "supported"
    assert verdicts(noisy)[("js_mi", "stabler")].verdict == "not supported"


def _bend(data: pd.DataFrame, column: str) -> pd.DataFrame:
    """Add a V along every axis (minimum at the middle level): no log-linear law holds."""
    out = data.copy()
    for axis in ("rank", "n_params", "data_size"):
        middle = np.log(out[axis]).median()
        out[column] += 3 * np.abs(np.log(out[axis]) - middle)
    return out


def test_fits_better_follows_the_held_out_error() -> None:
    """A log-linear js_mi against a bent CE fits better; a bent js_mi against the log-linear CE
    fits worse (held-out end levels in seed SDs)."""
    data = frame(js_noise=0.01, js_design_only=True)
    bent_ce = _bend(data, "ce").assign(ppl=lambda f: np.exp(f["ce"]))
    assert verdicts(bent_ce)[("js_mi", "fits_better")].verdict == "supported"
    assert verdicts(_bend(data, "js_mi"))[("js_mi", "fits_better")].verdict == "not supported"


def test_tracks_acc_needs_to_beat_the_design() -> None:
    """A metric that shares the seed-level shock with 1 − ACC tracks it; one that only knows
    the design (N, R, D) does not, however well it follows the axes."""
    assert verdicts(frame())[("js_mi", "tracks_acc")].verdict == "supported"
    design_only = verdicts(frame(js_design_only=True, js_noise=0.0))
    assert design_only[("js_mi", "tracks_acc")].verdict == "not supported"


def test_an_axis_with_one_level_is_not_enough_levels() -> None:
    data = frame()
    data = data[data["data_size"] == CENTRE["D"]]
    v = verdicts(data)
    assert v[("js_mi", "decreases_D")].verdict == "not enough levels"
