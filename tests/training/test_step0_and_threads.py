"""The step-0 (zero-shot) evaluation and the ``threads`` setting of ``run_training``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from miub.evaluation import evaluate_multiple_choice
from miub.models import load_model_and_tokenizer
from miub.training import run_training

from .conftest import ColourTask, make_config


def test_step0_evaluation_scores_the_base_model(
    tiny_model_dir: Path, colour_task: ColourTask
) -> None:
    """Step 0 is LoRA with B = 0, i.e. the base model: its ACC and answer CE must equal an
    evaluation of the plain, never-wrapped base model."""
    config = make_config(tiny_model_dir, eval={"at_start": True, "estimators": []})
    result = run_training(config, None, progress=False, task=colour_task)
    assert [entry["step"] for entry in result["history"]] == [0, result["steps"]]
    zero_shot = result["history"][0]

    base, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    examples = colour_task.validation(32)
    reference = evaluate_multiple_choice(base, tokenizer, examples, batch_size=32)
    assert zero_shot["acc"] == pytest.approx(reference["acc"], abs=1e-12)
    # the answer CE from first principles: -sum log p(gold answer tokens) / #tokens
    from miub.evaluation.encoding import encode_pair

    total, count = 0.0, 0
    with torch.no_grad():
        for example in examples:
            answer = " " + example["choices"][example["label"]]
            context_ids, answer_ids = encode_pair(tokenizer, example["context"], answer)
            ids = torch.tensor([context_ids + answer_ids])
            logp = torch.log_softmax(base(input_ids=ids).logits[0].double(), dim=-1)
            positions = range(len(context_ids) - 1, len(context_ids) + len(answer_ids) - 1)
            total -= sum(float(logp[p, ids[0, p + 1]]) for p in positions)
            count += len(answer_ids)
    assert zero_shot["ce"] == pytest.approx(total / count, abs=1e-5)
    assert result["metrics"]["acc"] > zero_shot["acc"]  # training helped on this task


def test_step0_evaluation_does_not_change_the_run(
    tiny_model_dir: Path, colour_task: ColourTask
) -> None:
    with_zero_shot = run_training(
        make_config(tiny_model_dir, eval={"at_start": True}), None, progress=False, task=colour_task
    )
    without = run_training(make_config(tiny_model_dir), None, progress=False, task=colour_task)
    assert with_zero_shot["metrics"] == without["metrics"]
    assert len(without["history"]) == 1


class ThreadRecordingTask(ColourTask):
    """Records the torch thread count in effect when the run asks for its data."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def train(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        self.seen.append(torch.get_num_threads())
        return super().train(n, seed)


def test_threads_apply_during_the_run_and_are_restored(tiny_model_dir: Path) -> None:
    before = torch.get_num_threads()
    task = ThreadRecordingTask()
    config = make_config(tiny_model_dir, threads=2, epochs=1)
    result = run_training(config, None, progress=False, task=task)
    assert task.seen == [2]
    assert torch.get_num_threads() == before
    assert math.isfinite(result["metrics"]["ce"])
    assert result["config"]["threads"] == 2
    unset = ThreadRecordingTask()
    run_training(make_config(tiny_model_dir, epochs=1), None, progress=False, task=unset)
    assert unset.seen == [before]  # None leaves torch's setting alone
