"""The metrics one estimator derives from its own pass (``mi``, ``dpi`` from ``js-mi``;
``miub_token`` from ``token-jsd``) equal those of running their estimators separately, so a
study may list only ``js-mi`` and ``token-jsd`` (the demo does) and lose no column."""

from __future__ import annotations

import pytest
from peft import LoraConfig, get_peft_model

from miub.models import load_model_and_tokenizer
from miub.tasks import get as get_task
from miub.training import EvalConfig
from miub.training.eval_pass import run_eval_pass


def test_two_estimators_give_every_column_of_four() -> None:
    base, tokenizer = load_model_and_tokenizer("zoo:world-xs")
    lora = LoraConfig(
        r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    model = get_peft_model(base, lora)
    examples = get_task("recall").validation(24)
    four = ["js-mi", "dpi", "token-jsd", "miub-token"]
    passes = {
        name: run_eval_pass(model, tokenizer, examples, None, EvalConfig(estimators=names))
        for name, names in (("four", four), ("two", ["js-mi", "token-jsd"]))
    }
    every, shared = passes["four"].metrics, passes["two"].metrics
    assert set(shared) == set(every)
    for column in (
        "dpi",
        "dpi_stderr",
        "miub_token",
        "miub_token_stderr",
        "mi",
        "js_mi_normalized",
    ):
        assert shared[column] == pytest.approx(every[column], rel=1e-5, abs=1e-9), column
