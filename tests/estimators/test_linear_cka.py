"""linear-cka against the Gram-matrix (HSIC) form of CKA computed directly in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miub.estimators import make_estimator


def _cka_gram_form(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. (2019), eq. 3 with linear kernels: HSIC(K,L)/sqrt(HSIC(K,K) HSIC(L,L))."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k, ell = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float(np.trace(k @ ell) / np.sqrt(np.trace(k @ k) * np.trace(ell @ ell)))


def _run(base: np.ndarray, lora: np.ndarray, batch: int | None = None, **params):
    estimator = make_estimator("linear-cka", **params)
    b = torch.tensor(base, dtype=torch.float32)
    lo = torch.tensor(lora, dtype=torch.float32)
    step = batch or len(b)
    for start in range(0, len(b), step):
        estimator.update(b[start : start + step], lo[start : start + step])
    return estimator.result()


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_identity_map_matches_gram_form(offset: float) -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 10))
    lora = base @ rng.normal(size=(10, 10)) * 0.3 + rng.normal(size=(200, 10))
    expected = _cka_gram_form(base, lora)
    # A large common offset must not cost precision (moments are shifted by the first batch).
    result = _run(base + offset, lora + offset, batch=50, feature_map="identity")
    assert result.value == pytest.approx(expected, rel=1e-4)
    assert 0 < result.stderr < 0.2


def test_projection_is_a_sketch_with_cka_invariances() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(500, 48))
    assert _run(base, 3.0 * base + 2.0).value == pytest.approx(1.0, rel=1e-5)
    independent = _run(base, rng.normal(size=(500, 48)))
    assert independent.value < 0.2


def test_streaming_equals_one_shot() -> None:
    rng = np.random.default_rng(2)
    base = rng.normal(size=(333, 24))
    lora = 0.5 * base + rng.normal(size=(333, 24))
    one_shot = _run(base, lora, k=8)
    for batch in (1, 17, 100):
        streamed = _run(base, lora, batch=batch, k=8)
        assert streamed.value == pytest.approx(one_shot.value, rel=1e-5)
        assert streamed.stderr == pytest.approx(one_shot.stderr, rel=1e-4)
