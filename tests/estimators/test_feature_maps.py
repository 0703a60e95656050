"""Feature maps: seeded reproducible projection, top-k choice, identity size limit, standardising."""

from __future__ import annotations

import math

import pytest
import torch

from miub.estimators.feature_maps import MAX_IDENTITY_DIM, FeatureMap, to_log_probs


def test_projection_is_seeded_and_lazy() -> None:
    first, second, other = (FeatureMap("projection", 8, s) for s in (3, 3, 4))
    assert not first.fitted
    x = torch.randn(10, 32)
    for fmap in (first, second, other):
        fmap.fit(x)
    assert first.matrix_ is not None and tuple(first.matrix_.shape) == (32, 8)
    torch.testing.assert_close(first(x), second(x))
    assert not torch.allclose(first(x), other(x))
    # entries ~ N(0, 1/d): a projected feature has the mean-square scale of one raw feature
    assert float(first.matrix_.var()) * 32 == pytest.approx(1.0, rel=0.4)


def test_topk_picks_largest_mean_abs_base_features_on_first_batch() -> None:
    x = torch.randn(50, 10)
    x[:, 7] *= 100
    x[:, 2] *= 50
    fmap = FeatureMap("topk", 2, 0)
    fmap.fit(x)
    assert fmap.indices_ is not None and fmap.indices_.tolist() == [2, 7]
    torch.testing.assert_close(fmap(x), x[:, [2, 7]])


@pytest.mark.parametrize("kind", ["projection", "topk"])
def test_k_is_clamped_to_d_by_the_identity_map(kind: str) -> None:
    x = torch.randn(50, 10)
    for k in (10, 20):
        fmap = FeatureMap(kind, k, 0)
        fmap.fit(x)
        assert fmap.out_features == 10
        torch.testing.assert_close(fmap(x), x)
    smaller = FeatureMap(kind, 9, 0)
    smaller.fit(x)
    assert smaller.out_features == 9 and smaller(x).shape == (50, 9)


def test_identity_is_only_for_small_d() -> None:
    fmap = FeatureMap("identity", 64, 0)
    fmap.fit(torch.randn(3, 16))
    assert fmap.out_features == 16
    with pytest.raises(ValueError, match="identity"):
        FeatureMap("identity", 64, 0).fit(torch.randn(2, MAX_IDENTITY_DIM + 1))
    with pytest.raises(ValueError, match="projection, topk, identity"):
        FeatureMap("random", 64, 0)


def test_to_log_probs_standardizes_per_token() -> None:
    logits = torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [5.0, 5.0, 5.0]])
    log_p = to_log_probs(logits, tau=1.0, standardize=True)
    torch.testing.assert_close(log_p[0], log_p[1])  # scale-free
    torch.testing.assert_close(log_p[2], torch.full((3,), -math.log(3)))  # constant -> uniform
    z = torch.tensor([-1.0, 0.0, 1.0]) * math.sqrt(1.5)  # population z-scores of (1, 2, 3)
    torch.testing.assert_close(log_p[0], torch.log_softmax(z, 0))
    raw = to_log_probs(logits, tau=2.0, standardize=False)
    torch.testing.assert_close(raw, torch.log_softmax(logits / 2.0, 1))
