"""Jackknife groups are whole sequences (group = sequence id mod G, docs/method.md §3.6):
replicates equal the estimator recomputed without a group, results do not depend on the
batching, and ``sequence_ids=None`` is the special case of one token per sequence."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from miub.estimators import get_spec, list_estimators, make_estimator

NAMES = [spec.name for spec in list_estimators()]
N_GROUPS = 16


def _params(name: str) -> dict[str, int]:
    return {"k": 8} if "k" in get_spec(name).defaults else {}


def _sequences(n_sequences: int = 45, d: int = 12, seed: int = 0):
    """Tokens of sequences of lengths 1..20 with a shared per-sequence latent:
    base (T, d), lora (T, d), sequence ids (T,) int64 (global, starting at 7)."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 21, (n_sequences,), generator=generator)
    ids = torch.repeat_interleave(torch.arange(7, 7 + n_sequences), lengths)  # (T,)
    latent = torch.randn(n_sequences, d, generator=generator)[ids - 7]  # (T, d)
    base = latent + torch.randn(len(ids), d, generator=generator)
    lora = 0.5 * latent @ torch.randn(d, d, generator=generator) / math.sqrt(d)
    lora = lora + 0.5 * torch.randn(len(ids), d, generator=generator)
    return base, lora, ids


def _run(name: str, base, lora, ids, cuts: list[int] | None = None):
    estimator = make_estimator(name, **_params(name))
    bounds = [0, *(cuts or []), len(base)]
    for start, stop in itertools.pairwise(bounds):
        estimator.update(base[start:stop], lora[start:stop], sequence_ids=ids[start:stop])
    return estimator.result()


@pytest.mark.parametrize("name", NAMES)
def test_replicates_are_the_estimate_without_each_group_of_sequences(name: str) -> None:
    base, lora, ids = _sequences()
    result = _run(name, base, lora, ids)
    replicates = result.replicates["value"]
    assert len(replicates) == N_GROUPS
    for group in (0, 5, 11):
        keep = ids % N_GROUPS != group
        without = _run(name, base[keep], lora[keep], ids[keep])
        # same tokens, same projection seed; the feature map is fitted on a different first batch
        # only for topk (not the default), so the recomputation is exact up to float rounding
        assert replicates[group] == pytest.approx(without.value, rel=1e-6, abs=1e-10)
    mean = sum(replicates) / N_GROUPS
    spread = sum((r - mean) ** 2 for r in replicates)
    assert result.stderr == pytest.approx(math.sqrt((N_GROUPS - 1) / N_GROUPS * spread), rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_batching_does_not_change_value_stderr_or_replicates(name: str) -> None:
    base, lora, ids = _sequences(seed=1)
    one_shot = _run(name, base, lora, ids)
    for cuts in ([5, 6, 100, 101, 300], list(range(50, len(base), 50))):
        streamed = _run(name, base, lora, ids, cuts)
        assert streamed.value == pytest.approx(one_shot.value, rel=1e-6, abs=1e-12)
        assert streamed.stderr == pytest.approx(one_shot.stderr, rel=1e-5, abs=1e-12)
        for key, replicates in one_shot.replicates.items():
            if key != "normalized":  # the null re-pairs rows across batches
                assert streamed.replicates[key] == pytest.approx(replicates, rel=1e-5, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_no_sequence_ids_means_one_sequence_per_token(name: str) -> None:
    base, lora, _ = _sequences(seed=2)
    estimator = make_estimator(name, **_params(name))
    estimator.update(base[:77], lora[:77])
    estimator.update(base[77:], lora[77:])
    token_index = torch.arange(len(base))
    expected = _run(name, base, lora, token_index, [77])
    got = estimator.result()
    assert got.value == pytest.approx(expected.value, rel=1e-9)
    assert got.stderr == pytest.approx(expected.stderr, rel=1e-9)
    assert got.replicates["value"] == pytest.approx(expected.replicates["value"], rel=1e-9)


@pytest.mark.parametrize("name", ["js-mi", "mi", "dpi"])
def test_factored_update_with_sequence_ids_equals_full_update(name: str) -> None:
    generator = torch.Generator().manual_seed(4)
    base = torch.randn(300, 24, generator=generator)
    inner, up = torch.randn(300, 4, generator=generator), torch.randn(4, 24, generator=generator)
    ids = torch.arange(300) // 13
    full, factored = make_estimator(name, k=8), make_estimator(name, k=8)
    for rows in (slice(0, 130), slice(130, 300)):
        full.update(base[rows], inner[rows] @ up, sequence_ids=ids[rows])
        factored.update_factored(base[rows], inner[rows], up, sequence_ids=ids[rows])  # type: ignore[attr-defined]
    expected, got = full.result(), factored.result()
    assert got.value == pytest.approx(expected.value, rel=1e-5, abs=1e-9)
    assert got.stderr == pytest.approx(expected.stderr, rel=1e-4, abs=1e-9)
    assert got.replicates["value"] == pytest.approx(expected.replicates["value"], rel=1e-4)
