"""Every real token reaches the estimators with the global index of its sequence, counted over
the measured sequences of the capture, so batching does not change the jackknife groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
import torch

import miub
from miub.interface import EstimateResult, StreamingEstimator

LENGTHS = [9, 4, 12, 7, 1, 10, 6]


def _sequences(seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(3, 90, (n,), generator=generator) for n in LENGTHS]


def _batch(sequences: list[torch.Tensor], width: int = 12) -> dict[str, torch.Tensor]:
    input_ids = torch.zeros(len(sequences), width, dtype=torch.long)
    attention_mask = torch.zeros(len(sequences), width, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = sequence
        attention_mask[row, : len(sequence)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def _expected_ids() -> torch.Tensor:
    # sequence i contributes LENGTHS[i] tokens, all with id i (known, not read from the code)
    return torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(LENGTHS)])


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
def test_sequence_ids_are_global_and_batch_size_invariant(batch_size, make_model, recorders):
    model = make_model("llama")
    made, factory = recorders
    sequences = _sequences()
    with torch.no_grad(), miub.capture(model, estimators=[factory]):
        for start in range(0, len(sequences), batch_size):
            model(**_batch(sequences[start : start + batch_size]))
    assert len(made) == 14
    for recorder in made:
        torch.testing.assert_close(recorder.sequence_ids, _expected_ids(), rtol=0, atol=0)


def test_unmasked_batches_count_rows(make_model, recorders):
    model = make_model("gpt2")
    made, factory = recorders
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad(), miub.capture(model, estimators=[factory]):
        model(input_ids=torch.randint(3, 90, (2, 5), generator=generator))
        model(input_ids=torch.randint(3, 90, (3, 4), generator=generator))
    expected = torch.tensor([0] * 5 + [1] * 5 + [2] * 4 + [3] * 4 + [4] * 4)
    for recorder in made:
        torch.testing.assert_close(recorder.sequence_ids, expected, rtol=0, atol=0)


def test_fully_masked_rows_are_not_measured_sequences(make_model, recorders):
    """A row with no measured token (a distractor under a capture mask) takes no sequence id,
    so the gold sequences' ids do not depend on what they were batched with."""
    model = make_model("llama")
    made, factory = recorders
    sequences = _sequences()
    batch = _batch(sequences[:4])
    measured = batch["attention_mask"].clone()
    measured[1] = 0  # sequence 1 forwarded but not measured
    with torch.no_grad(), miub.capture(model, estimators=[factory], mask="score_mask"):
        model(**batch, score_mask=measured)
        model(**_batch(sequences[4:5]), score_mask=_batch(sequences[4:5])["attention_mask"])
    n0, _, n2, n3, n4 = LENGTHS[:5]
    expected = torch.tensor([0] * n0 + [1] * n2 + [2] * n3 + [3] * n4)
    for recorder in made:
        torch.testing.assert_close(recorder.sequence_ids, expected, rtol=0, atol=0)


def test_a_forward_with_nothing_measured_reaches_no_estimator(make_model, recorders):
    """A batch whose mask selects no token (only distractors) is forwarded and counted as a
    forward, but no estimator is called and no module counts it as an update."""
    model = make_model("llama")
    made, factory = recorders
    sequences = _sequences()
    first, distractors = _batch(sequences[:2]), _batch(sequences[2:4])
    last = _batch(sequences[4:5])
    with torch.no_grad(), miub.capture(model, estimators=[factory], mask="score_mask") as cap:
        model(**first, score_mask=first["attention_mask"])
        model(**distractors, score_mask=torch.zeros_like(distractors["attention_mask"]))
        model(**last, score_mask=last["attention_mask"])
        result = cap.result()
    n0, n1, _, _, n4 = LENGTHS[:5]
    expected = torch.tensor([0] * n0 + [1] * n1 + [2] * n4)
    for recorder in made:
        assert len(recorder.ids) == 2, "the fully masked forward must not reach the estimator"
        torch.testing.assert_close(recorder.sequence_ids, expected, rtol=0, atol=0)
    assert result.n_forwards == 3 and result.n_tokens == n0 + n1 + n4
    assert all(module.n_updates == 2 for module in result.modules.values())


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_checkpointing_sends_ids_once_per_forward(use_reentrant, make_model, recorders):
    model = make_model("llama")
    model.train()
    model.gradient_checkpointing_enable(
        gradient_checkpointing_kwargs={"use_reentrant": use_reentrant}
    )
    model.enable_input_require_grads()
    made, factory = recorders
    sequences = _sequences()
    with miub.capture(model, estimators=[factory]):
        for start in (0, 3):
            batch = _batch(sequences[start : start + 4 if start == 3 else 3])
            model(**batch, labels=batch["input_ids"]).loss.backward()
    for recorder in made:
        assert len(recorder.ids) == 2
        torch.testing.assert_close(recorder.sequence_ids, _expected_ids(), rtol=0, atol=0)


class LegacyEstimator:
    """The older two-argument protocol: ``update(base, lora)`` with no sequence ids."""

    name = "legacy"

    def __init__(self) -> None:
        self.n = 0

    def update(self, base: torch.Tensor, lora: torch.Tensor) -> None:
        self.n += base.shape[0]

    def result(self) -> EstimateResult:
        return EstimateResult(self.name, value=float(self.n), stderr=0.0, n_tokens=self.n)


# miub.hooks.session.EstimatorChoice names only the current protocol, but capture also accepts
# the older two-argument one (documented in miub.hooks.taps), which is what this test checks.
_LEGACY_FACTORY = cast("Callable[[], StreamingEstimator]", LegacyEstimator)


def test_two_argument_estimators_still_work(make_model, make_batch):
    model = make_model("llama")
    with torch.no_grad(), miub.capture(model, estimators=[_LEGACY_FACTORY]) as cap:
        model(**make_batch([6, 3]))
    result = cap.result()
    assert result.overall["legacy"].value == 9.0
    assert result.overall["legacy"].stderr_method == "independent"
