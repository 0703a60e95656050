"""``result_many`` (one batched jackknife over modules) equals one ``result()`` per estimator."""

from __future__ import annotations

import math

import pytest
import torch

from miub.estimators.joint import (
    DataProcessingBound,
    FeatureJointEstimator,
    JSMutualInformation,
)
from miub.hooks.session import reduce_estimators
from miub.interface import EstimateResult, ResultMany


def _feed(estimator: FeatureJointEstimator, seed: int, n_sequences: int, strength: float) -> None:
    """Three batches of ``n_sequences`` sequences of 24 tokens; LoRA = strength·base + noise."""
    generator = torch.Generator().manual_seed(seed)
    for batch in range(3):
        base = torch.randn(24 * n_sequences, 32, generator=generator)
        lora = strength * base + torch.randn(base.shape, generator=generator)
        ids = torch.arange(24 * n_sequences) // 24 + batch * n_sequences
        estimator.update(base, lora, sequence_ids=ids)


def _assert_same(batched: EstimateResult, alone: EstimateResult) -> None:
    assert batched.name == alone.name and batched.n_tokens == alone.n_tokens
    pairs = [(batched.value, alone.value), (batched.stderr, alone.stderr)]
    assert batched.extras.keys() == alone.extras.keys()
    pairs += [(batched.extras[key], alone.extras[key]) for key in alone.extras]
    assert batched.replicates.keys() == alone.replicates.keys()
    for key, values in alone.replicates.items():
        pairs += list(zip(batched.replicates[key], values, strict=True))
    for got, want in pairs:
        assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("cls", [JSMutualInformation, DataProcessingBound])
def test_result_many_equals_separate_results(cls: type[JSMutualInformation]) -> None:
    # four modules on the same tokens (one batch), one on other sequences (other counts),
    # and one that saw nothing
    estimators = [cls(k=16) for _ in range(6)]
    for i, estimator in enumerate(estimators[:4]):
        _feed(estimator, seed=i, n_sequences=5, strength=0.5 * i)
    _feed(estimators[4], seed=9, n_sequences=3, strength=1.0)
    batched = cls.result_many(estimators)
    assert len(batched) == len(estimators)
    for estimator, result in zip(estimators, batched, strict=True):
        _assert_same(result, estimator.result())
    assert math.isnan(batched[5].value) and batched[5].n_tokens == 0
    # the modules differ, so a mix-up of the stacking order would show
    assert len({round(result.value, 12) for result in batched[:5]}) == 5


def test_reduce_estimators_batches_columns_and_keeps_order() -> None:
    per_module = [[JSMutualInformation(k=16), DataProcessingBound(k=16)] for _ in range(3)]
    for i, (js, dpi) in enumerate(per_module):
        _feed(js, seed=i, n_sequences=4, strength=float(i))
        _feed(dpi, seed=i, n_sequences=4, strength=float(i))
    assert isinstance(per_module[0][0], ResultMany)
    results = reduce_estimators(per_module)
    for estimators, row in zip(per_module, results, strict=True):
        for estimator, result in zip(estimators, row, strict=True):
            _assert_same(result, estimator.result())


def test_held_small_batches_equal_one_concatenated_batch() -> None:
    """Batches below ``hold_tokens`` are accumulated together: the same numbers (the null
    included) as one batch of their concatenation; with ``hold_tokens=1`` (every batch at
    once) everything but the null is the same too."""
    generator = torch.Generator().manual_seed(3)
    batches = []
    for batch in range(5):
        base = torch.randn(40, 32, generator=generator)
        lora = 0.7 * base + torch.randn(base.shape, generator=generator)
        batches.append((base, lora, torch.arange(40) // 8 + 5 * batch))
    held, joined, at_once = (JSMutualInformation(k=16, hold_tokens=h) for h in (1024, 1, 1))
    for base, lora, ids in batches:
        held.update(base, lora, sequence_ids=ids)
        at_once.update(base, lora, sequence_ids=ids)
    joined.update(*(torch.cat([b[i] for b in batches]) for i in range(3)))
    assert held.n_held_ == 200 and held.sums_ is None  # nothing accumulated before result()
    _assert_same(held.result(), joined.result())
    ours, theirs = held.result(), at_once.result()
    for key in ("ceiling", "corrected", "mi", "dpi"):
        assert ours.extras[key] == pytest.approx(theirs.extras[key], rel=1e-10)
    assert ours.value == pytest.approx(theirs.value, rel=1e-10)
    assert ours.stderr == pytest.approx(theirs.stderr, rel=1e-10)
    assert ours.extras["null"] != theirs.extras["null"]  # re-paired rows differ


@pytest.mark.parametrize("interleaved", [False, True])
def test_stacked_group_outer_equals_one_module_at_a_time(interleaved: bool) -> None:
    from miub.estimators.grouping import (
        group_outer,
        group_outer_stacked,
        group_outer_stacked_dense,
    )

    generator = torch.Generator().manual_seed(5)
    left = torch.rand(3, 90, 4, generator=generator, dtype=torch.float64)
    right = torch.rand(3, 90, 6, generator=generator, dtype=torch.float64)
    groups = torch.arange(90) % 16 if interleaved else torch.arange(90) // 7 % 16
    expected = torch.stack([group_outer(left[m], right[m], groups, 16) for m in range(3)])
    # by definition: sum over the tokens of each group of the outer products
    brute = torch.zeros(3, 16, 4, 6, dtype=torch.float64)
    for t in range(90):
        brute[:, int(groups[t])] += left[:, t, :, None] * right[:, t, None, :]
    torch.testing.assert_close(expected, brute)
    torch.testing.assert_close(group_outer_stacked(left, right, groups, 16), brute)
    torch.testing.assert_close(group_outer_stacked_dense(left, right, groups, 16), brute)


def test_groups_without_tokens_are_never_read() -> None:
    """On CPU a group's state is zeroed only when it first gets tokens; the reduction reads
    the non-empty groups only, so whatever the others hold (here NaN) changes nothing."""
    generator = torch.Generator().manual_seed(8)
    base = torch.randn(64, 24, generator=generator)
    lora = 0.5 * base + torch.randn(base.shape, generator=generator)
    ids = torch.arange(64) // 16  # 4 sequences: groups 0-3 of 16
    clean, poisoned = JSMutualInformation(k=8), JSMutualInformation(k=8)
    for estimator in (clean, poisoned):
        estimator.update(base, lora, sequence_ids=ids)
        estimator._flush()
    assert poisoned.pairs_ is not None and poisoned.zeroed_ == {0, 1, 2, 3}
    poisoned.pairs_[4:] = float("nan")
    _assert_same(poisoned.result(), clean.result())
    assert math.isfinite(poisoned.result().value) and math.isfinite(poisoned.result().stderr)
    joints = poisoned.joints_
    assert joints is not None and bool((joints[4:] == 0).all())
