"""run_training: learns a learnable task, is deterministic, writes every promised file."""

from __future__ import annotations

import csv
import json
from itertools import pairwise
from pathlib import Path

import pytest

from miub.evaluation import evaluate_multiple_choice
from miub.models import load_adapter, load_model_and_tokenizer
from miub.training import run_key, run_training

from .conftest import ColourTask, make_config


@pytest.mark.slow
def test_training_improves_accuracy_and_writes_outputs(
    tiny_model_dir: Path, colour_task: ColourTask, tmp_path: Path
) -> None:
    config = make_config(tiny_model_dir, eval={"interval_steps": 16})
    base, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    before = evaluate_multiple_choice(base, tokenizer, colour_task.validation(32))

    result = run_training(config, tmp_path, progress=False, task=colour_task)

    metrics = result["metrics"]
    assert metrics["acc"] >= 0.9 > before["acc"] + 0.3
    assert metrics["ce"] < before["ce"]
    for name in ("ce", "ppl", "acc", "acc_norm", "acc_stderr", "acc_norm_stderr"):
        assert isinstance(metrics[name], float)
    assert {"js_mi", "js_mi_stderr", "mi", "mi_stderr"} <= set(metrics)
    assert [entry["step"] for entry in result["history"]] == [16, 32, 48]
    assert result["run_key"] == run_key(config)
    assert set(result["miub"]["by_module_type"]) == {"attention", "ffn"}
    assert set(result["miub"]["by_layer"]) == {"0", "1"}
    assert result["n_params"]["non_embedding"] < result["n_params"]["total"]
    assert result["n_train_tokens"] > result["n_train_answer_tokens"] > 0
    assert {"torch", "transformers", "peft", "miub", "python"} <= set(result["versions"])
    assert result["timings"]["train_s"] > 0

    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["metrics"] == pytest.approx(metrics, nan_ok=True)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    with (tmp_path / "metrics.csv").open() as handle:
        names = {row["name"] for row in csv.DictReader(handle)}
    assert {"train/loss", "eval/acc", "eval/js_mi", "eval/ce"} <= names

    # The saved adapter reproduces the final accuracy.
    base, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), device="cpu")
    reloaded = load_adapter(base, tmp_path / "adapter")
    again = evaluate_multiple_choice(reloaded, tokenizer, colour_task.validation(32))
    assert again["acc"] == metrics["acc"]
    assert again["ce"] == pytest.approx(metrics["ce"], rel=1e-5)


@pytest.mark.slow
def test_same_config_and_seed_give_identical_metrics(
    tiny_model_dir: Path, colour_task: ColourTask
) -> None:
    config = make_config(tiny_model_dir, epochs=1, dropout=0.1, eval={"interval_steps": 4})
    first = run_training(config, None, progress=False, task=colour_task)
    second = run_training(config, None, progress=False, task=colour_task)
    assert first["metrics"] == second["metrics"]
    assert first["history"] == second["history"]
    other_seed = run_training(
        config.model_copy(update={"seed": 1}), None, progress=False, task=colour_task
    )
    assert other_seed["metrics"]["ce"] != first["metrics"]["ce"]


def test_training_without_estimators_and_separate_ce_set(
    tiny_model_dir: Path, colour_task: ColourTask
) -> None:
    config = make_config(
        tiny_model_dir,
        data_size=16,
        epochs=1,
        eval={"estimators": [], "eval_examples": 8, "ce_examples": 16},
    )
    result = run_training(config, None, progress=False, task=colour_task)
    assert result["miub"] is None
    assert "js_mi" not in result["metrics"]
    assert result["metrics"]["eval_examples"] == 8
    assert result["metrics"]["ce_tokens"] == 16  # one token per colour answer


def test_linear_schedule_warms_up_then_decays() -> None:
    from miub.training.loop import linear_schedule

    values = [linear_schedule(step, 2, 10) for step in range(10)]
    assert values[:3] == [1 / 3, 2 / 3, 1.0]
    assert all(a > b > 0 for a, b in pairwise(values[2:]))


def test_gradient_checkpointing_run(tiny_model_dir: Path, colour_task: ColourTask) -> None:
    config = make_config(
        tiny_model_dir,
        data_size=16,
        epochs=1,
        gradient_checkpointing=True,
        eval={"eval_examples": 8},
    )
    result = run_training(config, None, progress=False, task=colour_task)
    assert result["miub"]["n_forwards"] == 1  # 8 examples x 4 choices in one eval batch of 32


def test_device_map_run_matches_plain_placement(
    tiny_model_dir: Path, colour_task: ColourTask
) -> None:
    """``device_map`` goes through from_pretrained (accelerate placement) and trains the same."""
    common = {"data_size": 16, "epochs": 1, "eval": {"eval_examples": 8}}
    placed = run_training(
        make_config(tiny_model_dir, device_map="cpu", **common),
        None,
        progress=False,
        task=colour_task,
    )
    plain = run_training(
        make_config(tiny_model_dir, **common), None, progress=False, task=colour_task
    )
    assert placed["metrics"]["acc"] == plain["metrics"]["acc"]
    assert placed["metrics"]["ce"] == pytest.approx(plain["metrics"]["ce"], rel=1e-5)
