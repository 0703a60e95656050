"""token-jsd, miub-token, norm-ratio and cosine against direct NumPy/SciPy formulas (values,
and the delete-a-group jackknife standard error computed directly in NumPy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.special import softmax

from miub.estimators import make_estimator


def _data(n_tokens: int = 257, d: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n_tokens, d)) * 2.0
    lora = 0.5 * base + rng.normal(size=(n_tokens, d))
    return base, lora


def _run(name: str, base: np.ndarray, lora: np.ndarray, batch: int | None = None, **params):
    estimator = make_estimator(name, **params)
    b = torch.tensor(base, dtype=torch.float32)
    lo = torch.tensor(lora, dtype=torch.float32)
    step = batch or len(b)
    for start in range(0, len(b), step):
        estimator.update(b[start : start + step], lo[start : start + step])
    return estimator.result()


def _mean_and_stderr(values: np.ndarray, n_groups: int = 16) -> tuple[float, float]:
    """Mean and delete-a-group jackknife SE with token t in group t mod G (no sequence ids)."""
    groups = np.arange(len(values)) % n_groups
    leave_out = np.array([values[groups != g].mean() for g in range(n_groups)])
    spread = ((leave_out - leave_out.mean()) ** 2).sum()
    return float(values.mean()), float(math.sqrt((n_groups - 1) / n_groups * spread))


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_token_jsd_matches_scipy(tau: float) -> None:
    base, lora = _data()
    per_token = jensenshannon(softmax(base / tau, axis=1), softmax(lora / tau, axis=1), axis=1) ** 2
    mean, stderr = _mean_and_stderr(per_token)
    result = _run("token-jsd", base, lora, tau=tau)
    assert result.value == pytest.approx(mean, rel=1e-5)
    assert result.stderr == pytest.approx(stderr, rel=1e-4)
    assert result.n_tokens == len(base) and result.units == "nats"
    miub = _run("miub-token", base, lora, tau=tau)
    assert miub.value == pytest.approx(math.log(2) - mean, rel=1e-5)
    assert miub.stderr == pytest.approx(stderr, rel=1e-4)


def test_token_jsd_top_k_restricts_to_largest_base_features() -> None:
    base, lora = _data(d=20)
    top_k = 5
    index = np.argsort(-np.abs(base), axis=1)[:, :top_k]  # (T, top_k)
    p = softmax(np.take_along_axis(base, index, axis=1), axis=1)
    q = softmax(np.take_along_axis(lora, index, axis=1), axis=1)
    mean, stderr = _mean_and_stderr(jensenshannon(p, q, axis=1) ** 2)
    result = _run("token-jsd", base, lora, top_k=top_k, tau=1.0)
    assert result.value == pytest.approx(mean, rel=1e-5)
    assert result.stderr == pytest.approx(stderr, rel=1e-4)


def test_token_jsd_bounds_and_huge_logits() -> None:
    base, lora = _data()
    result = _run("token-jsd", 1e4 * base, -1e4 * lora)
    assert math.isfinite(result.value) and 0 <= result.value <= math.log(2) + 1e-7
    identical = _run("miub-token", base, base)
    assert identical.value == pytest.approx(math.log(2), abs=1e-6)


def test_norm_ratio_and_cosine_match_numpy() -> None:
    base, lora = _data()
    ratio = np.linalg.norm(lora, axis=1) / np.linalg.norm(base, axis=1)
    cosine = (base * lora).sum(1) / (np.linalg.norm(base, axis=1) * np.linalg.norm(lora, axis=1))
    for name, values in (("norm-ratio", ratio), ("cosine", cosine)):
        mean, stderr = _mean_and_stderr(values)
        result = _run(name, base, lora)
        assert result.value == pytest.approx(mean, rel=1e-5)
        assert result.stderr == pytest.approx(stderr, rel=1e-4)
    assert _run("cosine", base, np.zeros_like(base)).value == 0.0


@pytest.mark.parametrize("name", ["token-jsd", "miub-token", "norm-ratio", "cosine"])
def test_streaming_equals_one_shot(name: str) -> None:
    base, lora = _data(n_tokens=301)
    one_shot = _run(name, base, lora)
    for batch in (1, 10, 100):
        streamed = _run(name, base, lora, batch=batch)
        assert streamed.value == pytest.approx(one_shot.value, rel=1e-6)
        assert streamed.stderr == pytest.approx(one_shot.stderr, rel=1e-5)
        assert streamed.n_tokens == one_shot.n_tokens


def test_empty_and_single_token() -> None:
    estimator = make_estimator("cosine")
    assert math.isnan(estimator.result().value)
    estimator.update(torch.ones(1, 4), torch.ones(1, 4))
    assert estimator.result().value == pytest.approx(1.0)
    assert math.isnan(estimator.result().stderr)


def test_token_jsd_reports_miub_token_as_its_affine_image() -> None:
    """``miub_token = ln 2 - token_jsd`` from one pass equals the ``miub-token`` estimator."""
    generator = torch.Generator().manual_seed(4)
    jsd, miub_token = make_estimator("token-jsd"), make_estimator("miub-token")
    for batch in range(3):
        x = torch.randn(60, 12, generator=generator)
        y = 0.4 * x + torch.randn(60, 12, generator=generator)
        ids = torch.arange(60) // 6 + 10 * batch
        jsd.update(x, y, sequence_ids=ids)
        miub_token.update(x, y, sequence_ids=ids)
    ours, theirs = jsd.result(), miub_token.result()
    assert ours.extras["miub_token"] == pytest.approx(math.log(2) - ours.value, abs=1e-15)
    assert ours.extras["miub_token"] == pytest.approx(theirs.value, abs=1e-7)
    assert ours.extras["miub_token_stderr"] == pytest.approx(theirs.stderr, rel=1e-6)
    for got, want in zip(ours.replicates["miub_token"], theirs.replicates["value"], strict=True):
        assert got == pytest.approx(want, abs=1e-7)
    assert "miub_token" not in theirs.extras
