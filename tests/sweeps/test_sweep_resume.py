"""kill -9 a sweep at several moments, re-run the same command: same results as no crash."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sweep_helpers import SYNTHETIC, read_csv, write_study

from miub.sweeps import load_study, run_sweep

CLI = [sys.executable, "-c", "from miub.cli.main import main; main()"]


def _done_runs(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM runs WHERE status='done'").fetchone()[0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc; empty elsewhere)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _sweep_then_kill(command: list[str], env: dict[str, str], store: Path, after: int) -> int:
    """Start the sweep, SIGKILL it once ``after`` runs are done (or when it ends on its own);
    its worker processes must not outlive it. Returns the sweep's return code (−9 if killed)."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while process.poll() is None and _done_runs(store) < after and time.monotonic() < deadline:
        time.sleep(0.02)
    workers = _children(process.pid)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers), "orphaned sweep workers"
    return int(process.returncode)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_then_resume_equals_an_uninterrupted_sweep(tmp_path: Path, workers: int) -> None:
    study = write_study(tmp_path / "study.yaml")  # 24 runs
    reference = tmp_path / "reference"
    run_sweep(load_study(study), reference, run_function=SYNTHETIC, check=False)

    out = tmp_path / "crashed"
    command = [*CLI, "sweep", str(study), "--out", str(out), "--workers", str(workers)]
    env = {**os.environ, "MIUB_RUN_FUNCTION": SYNTHETIC, "MIUB_SYNTHETIC_SLEEP": "0.1"}
    for after in (3, 12):  # two crashes at different points of the sweep
        done_before = _done_runs(out / "runs.sqlite")
        code = _sweep_then_kill(command, env, out / "runs.sqlite", after)
        assert code == -signal.SIGKILL, "the sweep ended before the kill"
        assert done_before < _done_runs(out / "runs.sqlite") < 24  # killed mid-sweep
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr

    assert read_csv(out / "results.csv") == read_csv(reference / "results.csv")
    with sqlite3.connect(out / "runs.sqlite") as db:
        statuses = db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
        attempts = db.execute("SELECT MAX(attempts) FROM runs").fetchone()[0]
    assert statuses == [("done", 24)]
    assert attempts >= 1
    resumed = re.search(r"(\d+) already finished", finished.stderr)
    assert resumed is not None and 12 <= int(resumed.group(1)) < 24  # the last sweep resumed
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(
        p.name for p in (reference / "runs").iterdir()
    )
