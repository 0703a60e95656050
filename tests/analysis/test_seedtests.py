"""The paired seed tests behind "stabler" and "fits better": batched statistics equal the
per-replicate ones, the jackknife-t is the textbook one, the size holds under the null, and
the direction and the Holm step are wired in (mutation-proof)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from miub.analysis import claims as cl
from miub.analysis import scalefree as sf
from miub.analysis import seedtests as st

from .test_verdicts import frame, verdicts


def _replicates(rng: np.random.Generator, levels: int, seeds: int, batch: int) -> np.ndarray:
    y = rng.normal(size=(batch, levels, seeds)) + np.arange(levels)[None, :, None]
    y[rng.random(y.shape) < 0.15] = np.nan  # missing runs, whole missing levels included
    y[0, 1] = np.nan
    y[1, : levels - 2] = np.nan  # 2 levels left: no held-out error
    y[2, :, 1:] = np.nan  # one seed per level: no seed SD
    return y


def test_batched_statistics_equal_the_single_slice_ones() -> None:
    """Reference: the (unbatched) per-slice functions, replicate by replicate."""
    rng = np.random.default_rng(3)
    for levels, seeds in ((4, 5), (3, 2), (5, 3)):
        y = _replicates(rng, levels, seeds, 300)
        x = np.log(np.geomspace(1, 64, levels))
        sd = [sf.pooled_seed_sd(r) for r in y]
        np.testing.assert_allclose(sf.pooled_seed_sd_batch(y), sd, rtol=1e-12, equal_nan=True)
        nsr = [sf.noise_to_signal(r) for r in y]
        np.testing.assert_allclose(sf.noise_to_signal_batch(y), nsr, rtol=1e-12, equal_nan=True)
        held = [sf.held_out_errors(x, r) for r in y]
        expected = np.array([[h.get("low", np.nan), h.get("high", np.nan)] for h in held])
        got = sf.held_out_errors_batch(x, y)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12, equal_nan=True)
        assert np.isfinite(expected).any() and np.isnan(expected).any()


def test_mean_over_slices_follows_the_draws() -> None:
    """A draw picks seed columns (s mod S) in every slice; the mean skips NaN slices."""
    rng = np.random.default_rng(4)
    data = {
        "R": st.SliceData(np.log([1.0, 4, 16, 64]), rng.normal(size=(4, 5))),
        "D": st.SliceData(np.log([32.0, 96, 288]), rng.normal(size=(3, 5))),
    }
    draws = rng.integers(0, 5, (7, 5))
    got = st.mean_nsr(data, draws)
    for b, draw in enumerate(draws):
        values = [sf.noise_to_signal(d.y[:, draw % 5]) for d in data.values()]
        assert got[b] == pytest.approx(np.mean(values), rel=1e-12)


def test_jackknife_t_of_a_mean_is_the_one_sample_t_test() -> None:
    """For T = mean of per-seed values the jackknife SE is s/√n exactly, so the test must
    reproduce scipy's one-sample t-test (t and two-sided p, n − 1 df)."""
    values = np.array([0.3, -0.1, 0.8, 0.45, 0.2, 0.05])

    def mean_of(draws: np.ndarray | None) -> np.ndarray:
        return values[None].mean(axis=1) if draws is None else values[draws].mean(axis=1)

    test = st.seed_test(mean_of, np.zeros((0, 6), dtype=int), len(values))
    reference = stats.ttest_1samp(values, 0.0)
    assert test.t == pytest.approx(reference.statistic, rel=1e-12)
    assert test.p == pytest.approx(reference.pvalue, rel=1e-12)
    assert test.df == 5
    assert np.isnan(st.seed_test(mean_of, None, 2).p)  # 2 seeds: no test


def _null_pair(
    rng: np.random.Generator, seeds: int, correlation: float
) -> tuple[dict[str, cl.SliceData], dict[str, cl.SliceData]]:
    """Two metrics from the same model (same signal, same noise SD, correlated noise) on the
    demo's slices (4, 4, 3 levels): equal NSR and equal held-out error by construction."""
    a, b = {}, {}
    for axis, levels in (("N", 4), ("R", 4), ("D", 3)):
        x = np.log(np.geomspace(1, 64, levels))
        signal = ((x - x.mean()) / x.std(ddof=1))[:, None]  # (L, 1), signal SD = noise SD
        first = rng.normal(size=(levels, seeds))
        second = correlation * first + np.sqrt(1 - correlation**2) * rng.normal(size=first.shape)
        a[axis] = cl.SliceData(x, sf.slice_ranks(signal + first))
        b[axis] = cl.SliceData(x, sf.slice_ranks(signal + second))
    return a, b


def test_stabler_and_fits_better_keep_their_size_under_the_null() -> None:
    """300 seeded simulations × 2 noise correlations, 5 seeds: 'supported' and 'not
    supported' each ≤ 5 % (nominal 2.5 % each for a two-sided 5 % test)."""
    rng = np.random.default_rng(2026)
    counts = {
        (claim, verdict): 0 for claim in ("stabler", "fits_better") for verdict in cl.VERDICTS
    }
    total = 0
    for correlation in (0.0, 0.6):
        for _ in range(300):
            metric, reference = _null_pair(rng, 5, correlation)
            draws = rng.integers(0, 5, (50, 5))
            for judge in (cl.judge_stability, cl.judge_accuracy):
                v = judge("js_mi", metric, {"ce": reference}, draws, 5)
                v.p_holm = v.p  # a family of one
                cl.judge_comparison_from_holm(v)
                counts[(v.claim_id, v.verdict)] += 1
            total += 1
    for claim in ("stabler", "fits_better"):
        assert counts[(claim, "supported")] / total <= 0.05, counts
        assert counts[(claim, "not supported")] / total <= 0.05, counts


def test_the_verdict_follows_the_direction_of_the_test() -> None:
    """Clearly stabler → supported with a small p; clearly noisier → not supported. Fails if
    the sign rule or the p-value's tail is reversed."""
    quiet = frame(seeds=8, js_noise=0.001, js_design_only=True)
    quiet["ce"] += np.random.default_rng(5).normal(0, 0.2, len(quiet))
    quiet["ppl"] = np.exp(quiet["ce"])
    better = verdicts(quiet)[("js_mi", "stabler")]
    assert better.verdict == "supported" and better.statistic < 0 and better.p < 0.01
    assert better.effect == pytest.approx(better.numbers["nsr_ratio_ce"])  # NSR ratio < 1
    worse = verdicts(frame(seeds=8, js_noise=0.5, js_design_only=True))[("js_mi", "stabler")]
    assert worse.verdict == "not supported" and worse.statistic > 0 and worse.p < 0.05
    assert worse.effect > 1


def _moderate(copies: int) -> pd.DataFrame:
    """A js_mi moderately stabler than CE (raw p ≈ 0.03 on this seed), copied into
    ``copies`` dependence-metric columns so that they form a family of identical tests."""
    data = frame(seed=14, js_noise=0.02, js_design_only=True)
    data["ce"] += np.random.default_rng(114).normal(0, 0.05, len(data))
    data["ppl"] = np.exp(data["ce"])
    for name in ("mi", "js_mi_corrected")[: copies - 1]:
        data[name] = data["js_mi"]
    return data


def test_holm_is_applied_within_the_stabler_family() -> None:
    """Alone, p ≈ 0.03 is supported; as one of 3 identical tests, p_Holm = 3p > 0.05 is not.
    Fails if the Holm step is dropped or miscounted."""
    alone = verdicts(_moderate(1))[("js_mi", "stabler")]
    assert 0.017 < alone.p < 0.05 and alone.p_holm == alone.p
    assert alone.verdict == "supported"
    family = verdicts(_moderate(3))
    for name in ("js_mi", "mi", "js_mi_corrected"):
        v = family[(name, "stabler")]
        assert v.p == pytest.approx(alone.p, rel=1e-12)
        assert v.p_holm == pytest.approx(3 * alone.p, rel=1e-12)
        assert v.verdict == "inconclusive"
        assert f"p_Holm = {v.p_holm:.2g}" in v.reason and "jackknife t" in v.reason
