"""Grid expansion: counts, order, keys (stable, distinct, equal to run_key of the config)."""

from __future__ import annotations

from sweep_helpers import study_data

from miub.sweeps.grid import expand_grid, grid_points
from miub.sweeps.study import parse_study
from miub.training.config import EvalConfig, TrainConfig, run_key


def test_full_grid_is_the_product_in_yaml_order() -> None:
    study = parse_study(study_data())
    runs = expand_grid(study)
    assert len(runs) == 2 * 1 * 3 * 2 * 2
    assert [run.position for run in runs] == list(range(len(runs)))
    first, last = runs[0].config, runs[-1].config
    assert (first.model, first.rank, first.data_size, first.seed) == ("org/model-a", 1, 16, 0)
    assert (last.model, last.rank, last.data_size, last.seed) == ("org/model-b", 4, 32, 1)


def test_slices_vary_one_axis_at_a_time_through_the_center() -> None:
    grid = {
        "kind": "slices",
        "models": ["a/1", "a/2", "a/3", "a/4"],
        "tasks": ["recall", "novel"],
        "ranks": [1, 2, 4, 8],
        "data_sizes": [16, 32, 64],
        "seeds": [0, 1],
        "center": {"model": "a/2", "rank": 4, "data_size": 32},
    }
    study = parse_study(study_data(grid=grid))
    points = list(grid_points(study))
    assert len(points) == (4 + 4 + 3 - 2) * 2 * 2
    for model, _, rank, data_size, _ in points:
        off_center = (model != "a/2") + (rank != 4) + (data_size != 32)
        assert off_center <= 1
    assert ("a/2", "recall", 4, 32, 1) in points  # the centre, once per task and seed
    assert len(set(points)) == len(points)


def test_keys_are_distinct_stable_and_equal_run_key_of_a_fresh_config() -> None:
    study = parse_study(study_data())
    runs = expand_grid(study)
    assert len({run.key for run in runs}) == len(runs)
    assert [run.key for run in runs] == [run.key for run in expand_grid(parse_study(study_data()))]
    run = runs[5]
    fresh = TrainConfig(
        model=run.config.model,
        task=run.config.task,
        rank=run.config.rank,
        data_size=run.config.data_size,
        seed=run.config.seed,
        epochs=1,
        learning_rate=0.01,
        eval=EvalConfig(estimators=["js-mi", "dpi"]),
    )
    assert run.key == run_key(fresh)
    assert run.config == fresh


def test_settings_reach_every_config_and_change_every_key() -> None:
    base = expand_grid(parse_study(study_data()))
    changed = expand_grid(parse_study(study_data(eval__k=16, lora__dropout=0.1)))
    assert all(run.config.eval.k == 16 and run.config.dropout == 0.1 for run in changed)
    assert not {run.key for run in base} & {run.key for run in changed}


def test_executor_settings_do_not_change_keys() -> None:
    base = expand_grid(parse_study(study_data()))
    ray = expand_grid(parse_study(study_data(executor={"kind": "ray", "workers": 4})))
    assert [run.key for run in base] == [run.key for run in ray]
