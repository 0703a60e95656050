"""js-mi, mi and dpi against exact enumeration; independence, monotonicity, mi <= dpi,
streaming = one-shot, batch-size invariance and a calibrated jackknife standard error."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy

from miub.estimators import make_estimator
from miub.estimators.joint import FeatureJointEstimator

EXACT: dict[str, Any] = {"feature_map": "identity", "standardize": False}


def _expected_from_joint(joint: np.ndarray) -> tuple[float, float]:
    """(js-mi, mi) of a joint table, by direct enumeration."""
    product = np.outer(joint.sum(1), joint.sum(0))
    mixture = 0.5 * (joint + product)
    mi = scipy_entropy(joint.ravel(), product.ravel())
    js = 0.5 * scipy_entropy(joint.ravel(), mixture.ravel()) + 0.5 * scipy_entropy(
        product.ravel(), mixture.ravel()
    )
    return float(js), float(mi)


def _latent_tokens(
    weights: list[int], base_dists: np.ndarray, lora_dists: np.ndarray
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens of latent state s (repeated weights[s] times) with logits log P_s and log Q_s."""
    states = np.repeat(np.arange(len(weights)), weights)
    base = torch.tensor(np.log(base_dists[states]), dtype=torch.float32)  # (T, d)
    lora = torch.tensor(np.log(lora_dists[states]), dtype=torch.float32)  # (T, d)
    return base, lora


def _run(name: str, base: torch.Tensor, lora: torch.Tensor, batch: int | None = None, **params):
    estimator = make_estimator(name, **params)
    step = batch or base.shape[0]
    for start in range(0, base.shape[0], step):
        estimator.update(base[start : start + step], lora[start : start + step])
    return estimator.result()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_js_mi_and_mi_equal_exact_enumeration(seed: int, tau: float) -> None:
    rng = np.random.default_rng(seed)
    n_states, d = 3, 5
    weights = [6, 4, 2]  # latent distribution (1/2, 1/3, 1/6), reproduced exactly by the tokens
    base_dists = rng.dirichlet(np.ones(d), size=n_states)  # (S, d)
    lora_dists = rng.dirichlet(np.ones(d), size=n_states)  # (S, d)
    base, lora = _latent_tokens(weights, base_dists, lora_dists)
    # softmax(log P / tau) = P^(1/tau) renormalised
    p = base_dists ** (1 / tau) / (base_dists ** (1 / tau)).sum(1, keepdims=True)
    q = lora_dists ** (1 / tau) / (lora_dists ** (1 / tau)).sum(1, keepdims=True)
    pi = np.array(weights) / sum(weights)
    joint = np.einsum("s,si,sj->ij", pi, p, q)
    expected_js, expected_mi = _expected_from_joint(joint)
    # dpi = min(I(I;S), I(J;S)) with I(I;S) = H(sum_s pi_s p_s) - sum_s pi_s H(p_s)
    info_base = scipy_entropy(pi @ p) - pi @ scipy_entropy(p, axis=1)
    info_lora = scipy_entropy(pi @ q) - pi @ scipy_entropy(q, axis=1)

    result = _run("js-mi", base, lora, tau=tau, **EXACT)
    assert result.value == pytest.approx(expected_js, rel=1e-5, abs=1e-9)
    assert result.extras["mi"] == pytest.approx(expected_mi, rel=1e-5, abs=1e-9)
    assert result.extras["dpi"] == pytest.approx(min(info_base, info_lora), rel=1e-5, abs=1e-9)
    assert result.n_tokens == sum(weights)
    assert _run("mi", base, lora, tau=tau, **EXACT).value == pytest.approx(result.extras["mi"])
    assert _run("dpi", base, lora, tau=tau, **EXACT).value == pytest.approx(result.extras["dpi"])


def test_standardized_logits_match_numpy() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(40, 6))
    lora = 0.01 * base + 0.002 * rng.normal(size=(40, 6))

    def softmax_of_zscores(x: np.ndarray, tau: float) -> np.ndarray:
        z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True) / tau
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p, q = softmax_of_zscores(base, 0.7), softmax_of_zscores(lora, 0.7)
    expected_js, expected_mi = _expected_from_joint(p.T @ q / len(p))
    result = _run(
        "js-mi",
        torch.tensor(base, dtype=torch.float32),
        torch.tensor(lora, dtype=torch.float32),
        feature_map="identity",
        tau=0.7,
    )
    assert result.value == pytest.approx(expected_js, rel=1e-4)
    assert result.extras["mi"] == pytest.approx(expected_mi, rel=1e-4)


@pytest.mark.parametrize("n_states", [2, 3, 5])
def test_deterministic_diagonal_coupling_closed_form(n_states: int) -> None:
    """One-hot p_t = q_t = e_s (softmax underflows): P_IJ = diag(1/S), MI = ln S and
    JS-MI = (ln(2S/(S+1)) + ln(2/(S+1))/S + (1 - 1/S) ln 2) / 2."""
    logits = torch.full((n_states, n_states), -500.0).fill_diagonal_(0.0).repeat(4, 1)  # (4S, S)
    result = _run("js-mi", logits, logits.clone(), **EXACT)
    s = n_states
    expected_js = 0.5 * (
        math.log(2 * s / (s + 1)) + math.log(2 / (s + 1)) / s + (1 - 1 / s) * math.log(2)
    )
    assert result.value == pytest.approx(expected_js, rel=1e-6)
    assert result.extras["mi"] == pytest.approx(math.log(s), rel=1e-6)
    assert result.extras["dpi"] == pytest.approx(math.log(s), rel=1e-6)


def _coupled(coupling: float, n_tokens: int = 6000, d: int = 8, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(n_tokens, d, generator=generator)
    noise = torch.randn(n_tokens, d, generator=generator)
    return base, coupling * base + math.sqrt(1 - coupling**2) * noise


@pytest.mark.parametrize("feature_map", ["identity", "projection"])
def test_independent_branches_give_about_zero(feature_map: str) -> None:
    base, lora = _coupled(0.0, n_tokens=20000)
    coupled = _run("js-mi", *_coupled(0.8), feature_map=feature_map)
    independent = _run("js-mi", base, lora, feature_map=feature_map)
    assert independent.value < 0.02 * coupled.value
    assert independent.extras["mi"] < 0.02 * coupled.extras["mi"]


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("feature_map", ["identity", "projection", "topk"])
def test_monotone_in_coupling_strength(feature_map: str, standardize: bool) -> None:
    params: dict[str, Any] = {"feature_map": feature_map, "standardize": standardize, "k": 6}
    results = [_run("js-mi", *_coupled(c), **params) for c in (0.0, 0.3, 0.6, 0.9, 1.0)]
    js_values = [r.value for r in results]
    mi_values = [r.extras["mi"] for r in results]
    assert js_values == sorted(js_values) and js_values[0] < js_values[-1]
    assert mi_values == sorted(mi_values) and mi_values[0] < mi_values[-1]


@pytest.mark.parametrize("case", range(30))
def test_mi_never_exceeds_dpi(case: int) -> None:
    rng = np.random.default_rng(case)
    d = int(rng.integers(2, 24))
    n_tokens = int(rng.integers(3, 400))
    scale = float(10 ** rng.uniform(-3, 2))
    coupling = float(rng.uniform(0, 1))
    base, lora = _coupled(coupling, n_tokens=n_tokens, d=d, seed=case)
    params: dict[str, Any] = {
        "feature_map": str(rng.choice(["identity", "projection", "topk"])),
        "k": int(rng.integers(2, d + 1)),
        "tau": float(10 ** rng.uniform(-1.5, 0.5)),
        "standardize": bool(rng.integers(0, 2)),
        "seed": case,
    }
    result = _run("js-mi", scale * base, lora, **params)
    assert 0.0 <= result.value <= math.log(2)
    assert result.extras["mi"] <= result.extras["dpi"] + 1e-9
    assert result.extras["dpi"] == pytest.approx(
        min(result.extras["base_token_mi"], result.extras["lora_token_mi"])
    )


@pytest.mark.parametrize("name", ["js-mi", "dpi"])
def test_streaming_equals_one_shot_and_batch_size_invariance(name: str) -> None:
    base, lora = _coupled(0.7, n_tokens=1001, d=32, seed=3)
    one_shot = _run(name, base, lora, k=16)
    for batch in (1, 7, 64, 500):
        streamed = _run(name, base, lora, batch=batch, k=16)
        assert streamed.n_tokens == one_shot.n_tokens
        # float32 per-batch products summed in float64: equal up to float32 rounding
        assert streamed.value == pytest.approx(one_shot.value, rel=1e-6)
        assert streamed.stderr == pytest.approx(one_shot.stderr, rel=1e-5)
        for key, value in one_shot.extras.items():
            if key in ("null", "normalized", "normalized_stderr"):
                continue  # the null re-pairs rows across batches: it depends on the batching
            assert streamed.extras[key] == pytest.approx(value, rel=1e-4, abs=1e-9)
        for key, replicates in one_shot.replicates.items():
            if key != "normalized":
                assert streamed.replicates[key] == pytest.approx(replicates, rel=1e-4, abs=1e-9)
        if name == "js-mi":  # the null changes with the batching by its own noise only
            span = one_shot.extras["ceiling"] - one_shot.extras["null"]
            assert abs(streamed.extras["null"] - one_shot.extras["null"]) < 0.02 * span


def test_jackknife_stderr_is_calibrated() -> None:
    """The reported stderr matches the spread of the estimate over independent data sets."""
    values, stderrs = [], []
    for seed in range(40):
        base, lora = _coupled(0.6, n_tokens=1500, d=6, seed=100 + seed)
        result = _run("js-mi", base, lora, feature_map="identity")
        values.append(result.value)
        stderrs.append(result.stderr)
    ratio = float(np.mean(stderrs)) / float(np.std(values, ddof=1))
    assert 0.6 < ratio < 1.6


def test_scale_invariance_is_the_effect_of_standardization() -> None:
    base, lora = _coupled(0.8, n_tokens=2000, d=16, seed=5)
    standardized = [_run("js-mi", base, s * lora).value for s in (1e-4, 1.0, 1e3)]
    assert standardized == pytest.approx([standardized[1]] * 3, rel=1e-3)
    raw = [_run("js-mi", base, s * lora, standardize=False).value for s in (1e-4, 1.0)]
    assert raw[0] < 1e-3 * raw[1]  # a tiny LoRA output reads as ~independent by scale alone


def test_empty_state_and_state_size() -> None:
    estimator = make_estimator("js-mi", k=8)
    assert math.isnan(estimator.result().value)
    estimator.update(torch.zeros(0, 32), torch.zeros(0, 32))
    assert estimator.result().n_tokens == 0
    base, lora = _coupled(0.5, n_tokens=300, d=32)
    estimator.update(base, lora)
    assert isinstance(estimator, FeatureJointEstimator)
    assert estimator.joints_ is not None and tuple(estimator.joints_.shape) == (16, 3, 8, 8)
    single = make_estimator("js-mi", k=8)
    single.update(base[:1], lora[:1])
    assert math.isnan(single.result().stderr)


@pytest.mark.parametrize("feature_map", ["projection", "topk", "identity"])
def test_factored_update_equals_full_update(feature_map: str) -> None:
    """l = inner @ up given in factored form gives the same state as l itself."""
    generator = torch.Generator().manual_seed(3)
    base = torch.randn(300, 24, generator=generator)
    inner = torch.randn(300, 4, generator=generator)
    up = torch.randn(4, 24, generator=generator)
    full = make_estimator("js-mi", k=8, feature_map=feature_map)
    factored = make_estimator("js-mi", k=8, feature_map=feature_map)
    for rows in (slice(0, 120), slice(120, 300)):
        full.update(base[rows], inner[rows] @ up)
        factored.update_factored(base[rows], inner[rows], up)  # type: ignore[attr-defined]
    expected, got = full.result(), factored.result()
    assert got.value == pytest.approx(expected.value, rel=1e-5, abs=1e-9)
    assert got.extras["mi"] == pytest.approx(expected.extras["mi"], rel=1e-5, abs=1e-9)
    assert got.stderr == pytest.approx(expected.stderr, rel=1e-4, abs=1e-9)


def test_factored_update_follows_in_place_changes_of_the_up_factor() -> None:
    """The mapped up factor is cached per tensor; an in-place change (an optimiser step) or an
    inference tensor must give the same state as the full update."""
    generator = torch.Generator().manual_seed(4)
    base = torch.randn(200, 24, generator=generator)
    inner = torch.randn(200, 4, generator=generator)
    up = torch.randn(4, 24, generator=generator)
    full = make_estimator("js-mi", k=8)
    factored = make_estimator("js-mi", k=8)
    for rows in (slice(0, 100), slice(100, 200)):
        full.update(base[rows], inner[rows] @ up)
        factored.update_factored(base[rows], inner[rows], up)  # type: ignore[attr-defined]
        up.mul_(-2.0).add_(0.5)  # same tensor, new values
    with torch.inference_mode():
        frozen = up.clone()
        full.update(base, inner @ frozen)
        factored.update_factored(base, inner, frozen)  # type: ignore[attr-defined]
    expected, got = full.result(), factored.result()
    assert got.value == pytest.approx(expected.value, rel=1e-5, abs=1e-9)
    assert got.extras["null"] == pytest.approx(expected.extras["null"], rel=1e-5, abs=1e-9)
