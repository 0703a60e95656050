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
