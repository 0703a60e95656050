"""MIUB measured inside evaluate_multiple_choice: on the gold sequences only (GOLD_MASK), or on
every forwarded token (default capture mask) — checked against direct forwards."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model

from miub.evaluation import GOLD_MASK, evaluate_multiple_choice
from miub.hooks import capture


@pytest.fixture
def lora_model(tiny_model):
    config = LoraConfig(r=4, target_modules=["q_proj", "down_proj"], init_lora_weights=False)
    return get_peft_model(copy.deepcopy(tiny_model), config).eval()


def test_gold_mask_measures_exactly_the_gold_sequences(lora_model, tiny_tokenizer, examples):
    with capture(lora_model, estimators=["js-mi", "norm-ratio"], mask=GOLD_MASK) as cap:
        scores = evaluate_multiple_choice(lora_model, tiny_tokenizer, examples, 7, capture=cap)
        inside = cap.result()
    with capture(lora_model, estimators=["js-mi", "norm-ratio"]) as cap, torch.no_grad():
        for example in examples:
            text = example["context"] + " " + example["choices"][example["label"]]
            lora_model(input_ids=torch.tensor([tiny_tokenizer(text).input_ids[:-1]]))
        direct = cap.result()
    assert inside.n_tokens == direct.n_tokens
    for name in ("js-mi", "norm-ratio"):
        assert inside.overall[name].value == pytest.approx(direct.overall[name].value, rel=1e-4)
    assert scores["n"] == len(examples)


def test_default_mask_measures_every_choice(lora_model, tiny_tokenizer, examples):
    with capture(lora_model, estimators=["norm-ratio"]) as cap:
        evaluate_multiple_choice(lora_model, tiny_tokenizer, examples, 16, capture=cap)
        result = cap.result()
    expected = 0
    for example in examples:
        for choice in example["choices"]:
            expected += len(tiny_tokenizer(example["context"] + " " + choice).input_ids) - 1
    assert result.n_tokens == expected


def test_capture_on_another_model_is_refused(lora_model, tiny_model, tiny_tokenizer, examples):
    with capture(lora_model) as cap, pytest.raises(ValueError, match="model being evaluated"):
        evaluate_multiple_choice(tiny_model, tiny_tokenizer, examples, capture=cap)
