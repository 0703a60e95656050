"""The ``miub sweep`` command end to end in a subprocess: files, dry run, errors, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sweep_helpers import SYNTHETIC, read_csv, write_study

from miub.sweeps.export import BASE_COLUMNS

CLI = [sys.executable, "-c", "from miub.cli.main import main; main()"]


def miub(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "MIUB_RUN_FUNCTION": SYNTHETIC, **env}
    return subprocess.run(
        [*CLI, *args], env=environment, capture_output=True, text=True, timeout=180
    )


@pytest.mark.slow
def test_sweep_command_end_to_end(tmp_path: Path) -> None:
    study = write_study(tmp_path / "study.yaml", grid__seeds=[0])
    out = tmp_path / "out"

    dry = miub("sweep", str(study), "--out", str(out), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "12 runs: full grid of 2 models × 3 ranks × 2 data sizes" in dry.stdout
    assert not out.exists()

    failing = miub("sweep", str(study), "--out", str(out), MIUB_SYNTHETIC_FAIL_RANKS="2")
    assert failing.returncode == 1
    assert "8 done, 4 failed" in failing.stderr and "--retry-failed" in failing.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        ".sweep.lock", "results.csv", "runs", "runs.sqlite", "study.yaml",
    ]  # fmt: skip
    header, rows = read_csv(out / "results.csv")
    assert header[: len(BASE_COLUMNS)] == list(BASE_COLUMNS) and len(rows) == 12

    retried = miub("sweep", str(study), "--out", str(out), "--retry-failed")
    assert retried.returncode == 0, retried.stderr
    assert "4 done, 0 failed, 8 already finished" in retried.stderr

    dry_again = miub("sweep", str(study), "--out", str(out), "--dry-run")
    assert "12 finished, 0 to run" in dry_again.stdout

    changed = write_study(tmp_path / "study.yaml", grid__seeds=[0, 1])
    refused = miub("sweep", str(changed), "--out", str(out))
    assert refused.returncode == 2
    last_line = refused.stderr.splitlines()[-1]  # after the warnings about hub ids
    assert last_line.startswith("error: ") and "changed: grid.seeds" in last_line


def test_bad_study_is_one_line_exit_2(tmp_path: Path) -> None:
    study = write_study(tmp_path / "study.yaml", grid__ranks=[0])
    result = miub("sweep", str(study), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert (
        result.stderr
        == f"error: {study}: grid.ranks: must be a non-empty list of positive integers, got 0\n"
    )
