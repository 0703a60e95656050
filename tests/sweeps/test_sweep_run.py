"""run_sweep in-process with the synthetic runner: store, CSV, skipping, failures, changes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sweep_helpers import (
    SYNTHETIC,
    read_csv,
    runner_dying_on_rank_4,
    runner_failing_on_rank_2,
    study_data,
    write_study,
)

from miub.errors import MiubUserError
from miub.sweeps import expand_grid, load_study, parse_study, run_sweep
from miub.sweeps.export import BASE_COLUMNS
from miub.sweeps.study import ExecutorSettings
from miub.sweeps.sweep import sweep_lock
from miub.training.config import TrainConfig


def sweep(study_dir: Path, out: Path, **options: Any) -> Any:
    """Run the small study (written to study_dir/study.yaml) into ``out``."""
    changes = options.pop("changes", {})
    path = write_study(study_dir / "study.yaml", **changes)
    options.setdefault("run_function", SYNTHETIC)
    return run_sweep(load_study(path), out, study_text=path.read_text(), check=False, **options)


def test_store_csv_and_run_dirs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = sweep(tmp_path, out)
    assert (summary.total, summary.done, summary.failed, summary.skipped) == (24, 24, 0, 0)
    header, rows = read_csv(out / "results.csv", drop=())
    estimators = ["js_mi", "js_mi_stderr", "mi", "mi_stderr", "dpi", "dpi_stderr"]
    assert header == [*BASE_COLUMNS, *estimators, "wall_s"]
    assert len(rows) == 24 and {row[8] for row in rows} == {"done"}
    keys = [run.key for run in expand_grid(load_study(tmp_path / "study.yaml"))]
    assert [row[1] for row in rows] == keys  # grid order
    assert all(float(row[9]) > 0 and row[3].isdigit() for row in rows)
    assert (out / "study.yaml").read_text() == (tmp_path / "study.yaml").read_text()
    for key in keys:
        result = json.loads((out / "runs" / key / "result.json").read_text())
        assert result["run_key"] == key
    with sqlite3.connect(out / "runs.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        runs = db.execute("SELECT run_key, status, config, result, attempts FROM runs").fetchall()
        assert db.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 1
    assert len(runs) == 24 and all(status == "done" and n == 1 for _, status, _, _, n in runs)
    for key, _, config, result, _ in runs:
        assert TrainConfig.model_validate_json(config).model_dump() == json.loads(result)["config"]
        assert json.loads(result)["run_key"] == key


def test_finished_runs_are_skipped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep(tmp_path, out)
    before = (out / "results.csv").read_text()
    summary = sweep(tmp_path, out)
    assert (summary.done, summary.skipped) == (0, 24)
    assert (out / "results.csv").read_text() == before


def test_a_failed_run_does_not_stop_the_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = sweep(tmp_path, out, run_function=runner_failing_on_rank_2)
    assert (summary.done, summary.failed) == (16, 8)
    assert summary.failures[0][1] == "ValueError: rank 2 is cursed"
    header, rows = read_csv(out / "results.csv")
    failed = [row for row in rows if row[header.index("status")] == "failed"]
    assert len(failed) == 8 and all(row[header.index("rank")] == "2" for row in failed)
    assert all(row[header.index("ce")] == "" for row in failed)
    with sqlite3.connect(out / "runs.sqlite") as db:
        error, trace = db.execute("SELECT error, traceback FROM runs WHERE rank = 2").fetchone()
    assert error == "ValueError: rank 2 is cursed"
    assert trace.startswith("Traceback") and "second line" in trace
    assert sweep(tmp_path, out).done == 0  # failed runs stay failed ...
    retried = sweep(tmp_path, out, retry_failed=True)  # ... unless retried
    assert (retried.done, retried.failed, retried.skipped) == (8, 0, 16)
    _, rows = read_csv(out / "results.csv")
    assert len(rows) == 24 and {row[header.index("status")] for row in rows} == {"done"}


def test_worker_processes_match_sequential_and_survive_a_dying_worker(tmp_path: Path) -> None:
    sweep(tmp_path, tmp_path / "one")
    two = ExecutorSettings(workers=2)
    summary = sweep(tmp_path, tmp_path / "two", executor=two)
    assert summary.done == 24
    assert read_csv(tmp_path / "two" / "results.csv") == read_csv(tmp_path / "one" / "results.csv")
    dying = sweep(tmp_path, tmp_path / "dying", executor=two, run_function=runner_dying_on_rank_4)
    assert dying.done + dying.failed == 24 and dying.failed >= 8
    assert all("WorkerDied" in error for _, error in dying.failures)


def test_changed_study_is_refused_unless_allowed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sweep(tmp_path, out)
    with pytest.raises(MiubUserError, match=r"differs \(changed: grid\.ranks\).*--allow-changed"):
        sweep(tmp_path, out, changes={"grid__ranks": [1, 2, 8]})
    summary = sweep(tmp_path, out, changes={"grid__ranks": [1, 2, 8]}, allow_changed=True)
    assert (summary.total, summary.skipped, summary.done) == (24, 16, 8)  # shared configs reused
    header, rows = read_csv(out / "results.csv")
    # issue 13: --allow-changed keeps the earlier study's rows (rank 4) before this study's
    assert sorted({row[header.index("rank")] for row in rows}) == ["1", "2", "4", "8"]
    assert [row[header.index("rank")] for row in rows[:8]] == ["4"] * 8 and len(rows) == 32
    assert any("keeps the 8 finished runs of earlier studies" in note for note in summary.notes)
    assert "ranks:\n  - 1\n  - 2\n  - 8" in (out / "study.yaml").read_text()
    with sqlite3.connect(out / "runs.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 32  # nothing lost
        assert db.execute("SELECT COUNT(*) FROM studies").fetchone()[0] == 2


def test_bad_out_dir_runner_and_concurrent_sweeps(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(MiubUserError, match="is not a writable directory"):
        sweep(tmp_path, blocker / "out")
    with pytest.raises(MiubUserError, match="must be written module:function"):
        sweep(tmp_path, tmp_path / "out", run_function="no_colon")
    with pytest.raises(MiubUserError, match="cannot import"):
        sweep(tmp_path, tmp_path / "out", run_function="no.such.module:run")
    (tmp_path / "held").mkdir()
    with sweep_lock(tmp_path / "held"), pytest.raises(MiubUserError, match="another miub sweep"):
        sweep(tmp_path, tmp_path / "held")


def test_result_that_is_not_json_fails_the_run(tmp_path: Path) -> None:
    def runner(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
        return {"metrics": {"ce": object()}}

    summary = sweep(tmp_path, tmp_path / "out", run_function=runner)
    assert summary.failed == 24 and summary.failures[0][1].startswith("ResultNotJSON")


def test_new_estimator_columns_appear_when_results_bring_them(tmp_path: Path) -> None:
    def runner(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
        metrics: dict[str, Any] = {"ce": 1.0, "token_jsd": 0.1, "token_jsd_stderr": 0.01}
        if config.rank == 4:  # a new estimator, and secondary values that are not columns
            metrics |= {"cosine": 0.5, "cosine_stderr": 0.1, "dpi_mi": 3.0, "dpi_mi_stderr": 1.0}
        return {"metrics": metrics, "n_params": {"total": 1234, "non_embedding": 1000}}

    out = tmp_path / "out"
    sweep(tmp_path, out, run_function=runner)
    header, rows = read_csv(out / "results.csv")
    assert header[len(BASE_COLUMNS) :] == [
        "token_jsd",
        "token_jsd_stderr",
        "cosine",
        "cosine_stderr",
    ]
    assert {row[3] for row in rows} == {"1234"}
    assert {row[header.index("cosine")] for row in rows} == {"", "0.5"}


def test_python_api_without_study_text(tmp_path: Path) -> None:
    study = parse_study(study_data(grid__seeds=[0]))
    summary = run_sweep(study, tmp_path / "out", run_function=SYNTHETIC, check=False)
    assert summary.done == 12
    assert load_study(tmp_path / "out" / "study.yaml") == study
