"""Divergences and entropies against SciPy, bounds, symmetry, the fair-coin identity, underflow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as scipy_entropy

from miub.estimators.distributions import (
    entropy,
    entropy_of_probabilities,
    joint_information,
    js_divergence,
    js_mutual_information,
    kl_divergence,
    mutual_information,
)

LN2 = math.log(2.0)


def _random_distributions(n: int, size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(size, 0.5), size=n)  # (n, size)


def _log(p: np.ndarray) -> torch.Tensor:
    with np.errstate(divide="ignore"):
        return torch.from_numpy(np.log(p))


@pytest.mark.parametrize("seed", range(5))
def test_entropy_kl_jsd_match_scipy(seed: int) -> None:
    p, q = _random_distributions(20, 7, seed), _random_distributions(20, 7, seed + 100)
    expected_h = scipy_entropy(p, axis=1)
    expected_kl = scipy_entropy(p, q, axis=1)
    expected_jsd = jensenshannon(p, q, axis=1) ** 2  # natural log by default
    np.testing.assert_allclose(entropy(_log(p)).numpy(), expected_h, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kl_divergence(_log(p), _log(q)).numpy(), expected_kl, rtol=1e-10)
    np.testing.assert_allclose(
        js_divergence(_log(p), _log(q)).numpy(), expected_jsd, rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(
        entropy_of_probabilities(torch.from_numpy(p)).numpy(), expected_h, rtol=1e-10
    )


def test_jsd_bounds_and_symmetry() -> None:
    p, q = _random_distributions(200, 5, 1), _random_distributions(200, 5, 2)
    forward = js_divergence(_log(p), _log(q))
    backward = js_divergence(_log(q), _log(p))
    torch.testing.assert_close(forward, backward, rtol=1e-12, atol=1e-15)
    assert bool((forward >= 0).all()) and bool((forward <= LN2).all())
    assert js_divergence(_log(p), _log(p)).abs().max().item() < 1e-12
    disjoint_p, disjoint_q = np.array([[0.5, 0.5, 0.0, 0.0]]), np.array([[0.0, 0.0, 0.3, 0.7]])
    assert js_divergence(_log(disjoint_p), _log(disjoint_q)).item() == pytest.approx(LN2)


@pytest.mark.parametrize("seed", range(4))
def test_jsd_equals_mutual_information_with_fair_coin(seed: int) -> None:
    """Z ~ Bernoulli(1/2) picks X ~ P (Z=0) or X ~ Q (Z=1); then JSD(P, Q) = I(X; Z)."""
    p, q = _random_distributions(1, 6, seed)[0], _random_distributions(1, 6, seed + 50)[0]
    joint = 0.5 * np.stack([p, q], axis=1)  # (x, z)
    p_x, p_z = joint.sum(axis=1), joint.sum(axis=0)
    expected = sum(
        joint[x, z] * math.log(joint[x, z] / (p_x[x] * p_z[z]))
        for x in range(6)
        for z in range(2)
        if joint[x, z] > 0
    )
    assert js_divergence(_log(p), _log(q)).item() == pytest.approx(expected, rel=1e-10)


def test_underflowed_softmax_gives_finite_values() -> None:
    """Huge logits make softmax underflow to exact zeros; the naive p*log(p/m) is NaN there."""
    logits_p = torch.tensor([[3000.0, 0.0, -3000.0, 10.0]])
    logits_q = torch.tensor([[-3000.0, 0.0, 3000.0, 10.0]])
    log_p, log_q = torch.log_softmax(logits_p, -1), torch.log_softmax(logits_q, -1)
    p, q = log_p.exp(), log_q.exp()
    naive = (p * torch.log(p / (0.5 * (p + q)))).sum()
    assert torch.isnan(naive)  # the failure the stable form avoids
    jsd = js_divergence(log_p, log_q)
    assert torch.isfinite(jsd).all() and jsd.item() == pytest.approx(LN2, abs=1e-6)
    assert torch.isfinite(entropy(log_p)).all() and entropy(log_p).item() == pytest.approx(0.0)
    # Exact -inf log-probabilities (log 0) are handled too.
    minus_inf = torch.tensor([[0.0, -math.inf]])
    assert js_divergence(minus_inf, minus_inf.flip(-1)).item() == pytest.approx(LN2)
    assert kl_divergence(minus_inf, torch.log(torch.tensor([[0.5, 0.5]]))).item() == pytest.approx(
        LN2
    )


def test_joint_table_mutual_information_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    joint = rng.dirichlet(np.ones(12)).reshape(3, 4)
    product = np.outer(joint.sum(1), joint.sum(0))
    mixture = 0.5 * (joint + product)
    expected_mi = scipy_entropy(joint.ravel(), product.ravel())
    expected_js = 0.5 * scipy_entropy(joint.ravel(), mixture.ravel()) + 0.5 * scipy_entropy(
        product.ravel(), mixture.ravel()
    )
    table = torch.from_numpy(joint)
    assert mutual_information(table).item() == pytest.approx(expected_mi, rel=1e-10)
    assert js_mutual_information(table).item() == pytest.approx(expected_js, rel=1e-10)
    independent = torch.from_numpy(np.outer([0.2, 0.8], [0.1, 0.3, 0.6]))
    assert mutual_information(independent).item() == pytest.approx(0.0, abs=1e-12)
    assert js_mutual_information(independent).item() == pytest.approx(0.0, abs=1e-12)
    diagonal = torch.diag(torch.full((4,), 0.25, dtype=torch.float64))
    assert mutual_information(diagonal).item() == pytest.approx(math.log(4))


def test_joint_information_on_any_two_axes_matches_scipy() -> None:
    """``dims`` selects the table's axes: a (N, k_i, J, k_j) stack (the estimators' layout,
    unnormalised, some cells zero) gives, for each (n, j), SciPy's MI and JSD of that table."""
    rng = np.random.default_rng(11)
    stack = rng.gamma(0.3, size=(4, 5, 3, 6)) * 40.0  # (N, k_i, J, k_j)
    stack[0, 1, 2, :] = 0.0  # an empty row: 0 log 0 = 0
    got_js, got_mi = joint_information(torch.from_numpy(stack), dims=(1, 3))
    assert got_js.shape == (4, 3) and got_mi.shape == (4, 3)
    for n in range(4):
        for j in range(3):
            joint = stack[n, :, j, :] / stack[n, :, j, :].sum()
            product = np.outer(joint.sum(1), joint.sum(0))
            mixture = 0.5 * (joint + product)
            expected_mi = scipy_entropy(joint.ravel(), product.ravel())
            expected_js = 0.5 * scipy_entropy(joint.ravel(), mixture.ravel()) + 0.5 * (
                scipy_entropy(product.ravel(), mixture.ravel())
            )
            assert got_mi[n, j].item() == pytest.approx(expected_mi, rel=1e-10)
            assert got_js[n, j].item() == pytest.approx(expected_js, rel=1e-10)
    swapped_js, swapped_mi = joint_information(torch.from_numpy(stack), dims=(3, 1))
    torch.testing.assert_close(swapped_js, got_js, rtol=0, atol=0)
    torch.testing.assert_close(swapped_mi, got_mi, rtol=0, atol=0)
    with pytest.raises(ValueError, match="two different axes"):
        joint_information(torch.from_numpy(stack), dims=(1, -3))
