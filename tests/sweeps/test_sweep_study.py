"""Study files: schema errors name the key; sections mirror TrainConfig; shipped files load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sweep_helpers import study_data, write_study

from miub.errors import MiubUserError
from miub.sweeps.checks import check_study, max_lora_rank
from miub.sweeps.export import csv_columns, estimators_in
from miub.sweeps.study import (
    EvalSettings,
    LoraSettings,
    TrainingSettings,
    load_study,
    parse_study,
    shipped_studies,
    study_hash,
)
from miub.training.config import EvalConfig, TrainConfig

GRID = study_data()["grid"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"grid__ranks": []}, "grid.ranks: must be a non-empty list of positive integers"),
        ({"grid__ranks": [4, 0]}, "grid.ranks: must be a non-empty list of positive integers"),
        ({"grid__ranks": "4"}, "grid.ranks: must be a non-empty list of positive integers"),
        ({"grid__data_sizes": [1.5]}, "grid.data_sizes: must be a non-empty list of positive"),
        ({"grid__seeds": [-1]}, "grid.seeds: must be a non-empty list of non-negative integers"),
        ({"grid__models": []}, "grid.models: must be a non-empty list of names"),
        ({"grid__tasks": ["recall", "recall"]}, "grid.tasks: lists recall more than once"),
        ({"grid__kind": "random"}, "grid.kind: Input should be 'full' or 'slices'"),
        ({"grid__kind": "slices"}, "grid.center: required with kind: slices"),
        (
            {"grid__center": {"model": "org/model-a", "rank": 1, "data_size": 16}},
            "grid.center: only used with kind: slices",
        ),
        ({"training__learnig_rate": 0.1}, "training.learnig_rate: unknown key (did you mean"),
        ({"training__epochs": 0}, "training.epochs: Input should be greater than 0"),
        ({"lora__dropout": 1.5}, "lora.dropout: Input should be less than 1"),
        ({"eval__k": 1}, "eval.k: Input should be greater than or equal to 2"),
        ({"estimators": []}, "estimators: must be a non-empty list of estimator names"),
        ({"executor__kind": "slurm"}, "executor.kind: Input should be 'local' or 'ray'"),
        ({"executor__workers": 0}, "executor.workers: Input should be greater than or equal to 1"),
        ({"name": "has space"}, "name: String should match pattern"),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_schema_errors_name_the_key(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(MiubUserError) as error:
        parse_study(study_data(**changes), source="studies/x.yaml")
    message = str(error.value)
    assert message.startswith("studies/x.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_slices_center_must_lie_on_the_axes() -> None:
    grid = {
        **GRID,
        "kind": "slices",
        "center": {"model": "org/model-a", "rank": 3, "data_size": 16},
    }
    with pytest.raises(MiubUserError, match=r"grid\.center\.rank: must be one of ranks"):
        parse_study(study_data(grid=grid))


def test_missing_grid_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(MiubUserError, match="grid: required key is missing"):
        parse_study({"name": "x"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(MiubUserError, match=r"bad\.yaml: not valid YAML at line"):
        load_study(bad)
    with pytest.raises(MiubUserError, match="a study must be a YAML mapping"):
        parse_study([1, 2])


def test_sections_cover_every_config_field() -> None:
    axes = {"model", "task", "rank", "data_size", "seed", "eval"}
    from_resources = {"threads"}  # a sweep sets it from executor.resources.num_cpus
    sections = set(LoraSettings.model_fields) | set(TrainingSettings.model_fields)
    assert sections | axes | from_resources == set(TrainConfig.model_fields)
    assert not sections & axes
    assert set(EvalSettings.model_fields) | {"estimators"} == set(EvalConfig.model_fields)


def test_sections_share_train_config_defaults() -> None:
    study = parse_study(study_data(training={}))
    defaults = TrainConfig(model="m", task="t")
    for name, value in {**study.lora.model_dump(), **study.training.model_dump()}.items():
        assert value == getattr(defaults, name), name


def test_hash_ignores_executor_but_not_settings() -> None:
    base = study_hash(parse_study(study_data()))
    assert base == study_hash(parse_study(study_data(executor__workers=3)))
    assert base != study_hash(parse_study(study_data(training__epochs=2)))


def test_a_later_setting_changes_the_hash_only_when_set() -> None:
    base = study_hash(parse_study(study_data()))
    assert base == study_hash(parse_study(study_data(eval__at_start=False)))
    assert base != study_hash(parse_study(study_data(eval__at_start=True)))


def test_csv_estimator_columns_come_from_the_registry() -> None:
    """Every registered estimator's value metric becomes a CSV column pair; unknown keys and
    external metrics do not (the CSV has no hand-kept list of estimators)."""
    from miub.estimators import list_estimators
    from miub.metrics import column_name

    names = [column_name(spec.name) for spec in list_estimators()]
    metrics = {name: 0.1 for name in names} | {"ce": 1.0, "not_a_metric": 3.0}
    assert estimators_in(metrics) == set(names)
    columns = csv_columns(estimators_in(metrics))
    for name in names:
        assert name in columns and f"{name}_stderr" in columns
    assert "not_a_metric" not in columns and columns.count("ce") == 1


def test_editing_only_the_description_keeps_the_hash() -> None:
    base = study_hash(parse_study(study_data()))
    assert base == study_hash(parse_study(study_data(description="a note on this study")))


def test_rank_limit_from_module_shapes() -> None:
    config = {"hidden_size": 16, "intermediate_size": 48, "num_attention_heads": 2,
              "num_key_value_heads": 1}  # fmt: skip
    assert max_lora_rank(config, ["q_proj", "k_proj"]) == (8, "k_proj")
    assert max_lora_rank(config, ["gate_proj"]) == (16, "gate_proj")
    assert max_lora_rank({"vocab_size": 3}, ["q_proj"]) is None


def test_check_accepts_a_model_dir(model_dir: Path) -> None:
    study = parse_study(
        study_data(grid__models=[str(model_dir)], grid__ranks=[1, 8], eval__eval_examples=50)
    )
    assert check_study(study) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"grid__ranks": [4, 9]}, "grid.ranks: rank 9 exceeds 8, the smallest LoRA target"),
        ({"grid__tasks": ["recall", "nosuchtask"]}, "grid.tasks[1]: unknown name 'nosuchtask'"),
        ({"estimators": ["js-mi", "jsmi"]}, "estimators[1]: unknown name 'jsmi'"),
        ({"grid__models": ["zoo:no-such-model"]}, "grid.models[0]: "),
        ({"grid__models": ["./missing-dir"]}, "grid.models[0]: ./missing-dir is not a model dir"),
        ({"grid__data_sizes": [16, 10**6]}, "grid.data_sizes: 1000000 exceeds the"),
        ({"training__task_options": {"colour": 1}}, "training.task_options: bad options for task"),
    ],
)
def test_check_names_each_problem(model_dir: Path, changes: dict[str, Any], expected: str) -> None:
    data = study_data(grid__models=[str(model_dir)])
    for key, value in changes.items():
        section, _, field = key.partition("__")
        data[section] = {**data[section], field: value} if field else value
    with pytest.raises(MiubUserError) as error:
        check_study(parse_study(data))
    assert expected in str(error.value)


def test_uncached_hub_id_is_a_warning() -> None:
    study = study_data(grid__models=["someone/not-cached-model"], eval__eval_examples=10**6)
    warnings = check_study(parse_study(study))
    assert len(warnings) == 2 and "not in the local Hugging Face cache" in warnings[0]
    assert warnings[1].startswith("eval.eval_examples: task 'recall' has")


def test_study_file_round_trip(tmp_path: Path) -> None:
    path = write_study(tmp_path / "s.yaml", name="round-trip")
    assert load_study(path).name == "round-trip"


def test_shipped_studies_load_and_validate() -> None:
    studies = shipped_studies()
    assert {"demo", "demo-quick"} <= set(studies)
    assert {"paper-llama3-8b", "paper-phi3-mini", "model-size-qwen2.5"} <= set(studies)
    for path in studies.values():
        study = load_study(path)
        warnings = check_study(study)  # hub ids not cached here may only warn
        assert all("not in the local Hugging Face cache" in w for w in warnings), path


def test_demo_covers_the_required_axes() -> None:
    from miub.sweeps.grid import expand_grid

    demo = load_study(shipped_studies()["demo"])
    runs = expand_grid(demo)
    assert len({run.config.model for run in runs}) >= 4
    assert len({run.config.rank for run in runs}) >= 4
    assert len({run.config.data_size for run in runs}) >= 3
    assert len({run.config.seed for run in runs}) >= 2


def test_paper_studies_use_bf16_on_one_gpu_per_ray_task() -> None:
    for name in ("paper-llama3-8b", "paper-phi3-mini", "model-size-qwen2.5"):
        study = load_study(shipped_studies()[name])
        assert (study.training.dtype, study.training.device) == ("bfloat16", "cuda")
        assert study.executor.kind == "ray" and study.executor.resources.num_gpus == 1
        assert max(study.grid.ranks) <= 128 and len(study.grid.seeds) >= 3
    phi3 = load_study(shipped_studies()["paper-phi3-mini"])
    assert phi3.lora.target_modules == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
