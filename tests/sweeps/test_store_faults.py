"""Faults of the sweep store (issue 13): nothing finished is lost, a damaged store is reported
in one line and never written, and it can be rebuilt from the run dirs."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sweep_helpers import SYNTHETIC, read_csv, write_study

from miub.errors import MiubUserError
from miub.sweeps import load_study, run_sweep
from miub.sweeps.sweep import sweep_lock
from miub.testing.synthetic_sweep import synthetic_run
from miub.training.config import TrainConfig

SNAPSHOT_AFTER = 5  # the 6th run copies runs.sqlite (without its -wal) aside


def copying_store_mid_sweep(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """The synthetic run, except that the 6th one copies ``runs.sqlite`` alone (as if the
    -wal were lost), while the sweep still runs."""
    out = run_dir.parent.parent
    done = len(list((out / "runs").glob("*/outcome.json")))
    if done == SNAPSHOT_AFTER and not (out.parent / "snapshot.sqlite").exists():
        shutil.copyfile(out / "runs.sqlite", out.parent / "snapshot.sqlite")
    return synthetic_run(config, run_dir)


def _done(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0])


def test_finished_runs_survive_a_lost_wal(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path / "study.yaml"))
    run_sweep(study, tmp_path / "out", run_function=copying_store_mid_sweep, check=False)
    assert _done(tmp_path / "snapshot.sqlite") == SNAPSHOT_AFTER  # checkpointed after each run


def _finished_sweep(tmp_path: Path) -> tuple[Any, Path]:
    study = load_study(write_study(tmp_path / "study.yaml"))
    out = tmp_path / "out"
    run_sweep(study, out, run_function=SYNTHETIC, check=False)
    return study, out


@pytest.mark.parametrize("damage", ["tail-garbage", "head-garbage", "half", "empty", "deleted"])
def test_damaged_store_is_refused_untouched_then_rebuilt(tmp_path: Path, damage: str) -> None:
    study, out = _finished_sweep(tmp_path)
    reference = read_csv(out / "results.csv", drop=())
    store = out / "runs.sqlite"
    data = store.read_bytes()
    damaged = {
        "tail-garbage": data[:-4096] + b"\xff" * 4096,
        "head-garbage": b"\xff" * 100 + data[100:],
        "half": data[: len(data) // 2],
        "empty": b"",
    }.get(damage)
    if damaged is None:
        store.unlink()
    else:
        store.write_bytes(damaged)
    before = store.read_bytes() if store.exists() else None
    with pytest.raises(MiubUserError, match="rebuild-store"):
        run_sweep(study, out, run_function=SYNTHETIC, check=False)
    assert (store.read_bytes() if store.exists() else None) == before  # never overwritten
    assert read_csv(out / "results.csv", drop=()) == reference
    summary = run_sweep(study, out, run_function=SYNTHETIC, check=False, rebuild=True)
    assert summary.done == 0 and summary.skipped == 24  # every run recovered, none re-run
    assert read_csv(out / "results.csv", drop=()) == reference  # wall_s too
    if before:
        assert list(out.glob("runs.sqlite.damaged-*"))  # the damaged store is kept


def test_second_sweep_names_the_lock_holder(tmp_path: Path) -> None:
    import os
    import socket

    study = load_study(write_study(tmp_path / "study.yaml"))
    out = tmp_path / "out"
    out.mkdir()
    with (
        sweep_lock(out),
        pytest.raises(MiubUserError, match=f"pid {os.getpid()} on host {socket.gethostname()}"),
    ):
        run_sweep(study, out, run_function=SYNTHETIC, check=False)


def diverging_run(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    result = synthetic_run(config, run_dir)
    if config.rank == 2:
        result["metrics"]["ce"] = float("nan")
    return result


def test_non_finite_metrics_fail_the_run_with_the_reason(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path / "study.yaml"))
    summary = run_sweep(study, tmp_path / "out", run_function=diverging_run, check=False)
    assert summary.failed == 8 and summary.done == 16
    assert all("NonFiniteMetrics: ce=nan" in error for _, error in summary.failures)
