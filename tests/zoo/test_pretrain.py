"""The pretraining loop: schedule shape and seeded reproducibility."""

from __future__ import annotations

import itertools

import pytest
import torch

from miub.zoo.pretrain import PretrainSettings, learning_rate_at, llama_config, pretrain
from miub.zoo.specs import MODEL_SPECS, ModelSpec


def test_schedule_warms_up_then_decays_to_the_floor() -> None:
    settings = PretrainSettings(steps=100, warmup_fraction=0.1, min_lr_fraction=0.1)
    rates = [learning_rate_at(step, settings, peak=1.0) for step in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))
    assert rates[-1] == pytest.approx(0.1, abs=1e-3)


def test_same_seed_gives_the_same_model() -> None:
    spec = ModelSpec("t", hidden_size=16, num_layers=1, num_heads=2, learning_rate=1e-2)
    config = llama_config(spec, vocab_size=64, pad_id=0, bos_id=1, eos_id=2)
    stream = torch.randint(3, 64, (2000,), generator=torch.Generator().manual_seed(0))
    settings = PretrainSettings(steps=3, batch_size=2, seq_len=16, seed=5)
    first = pretrain(config, spec, stream, settings)
    again = pretrain(config, spec, stream, settings)
    for a, b in zip(first.model.parameters(), again.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert first.tokens == 3 * 2 * 16 and first.final_loss > 0


def test_specs_are_ordered_by_width_and_depth() -> None:
    widths = [s.hidden_size for s in MODEL_SPECS]
    assert widths == sorted(widths) and len(MODEL_SPECS) >= 4
    assert all(s.hidden_size % s.num_heads == 0 for s in MODEL_SPECS)
