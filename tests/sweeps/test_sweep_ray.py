"""The Ray executor on a local Ray: the same numbers (and failures) as the local executor."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import SYNTHETIC, read_csv, write_study

from miub.sweeps import load_study, run_sweep
from miub.sweeps.study import ExecutorSettings, Resources

ray = pytest.importorskip("ray")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ray_executor_matches_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIUB_SYNTHETIC_FAIL_RANKS", "2")  # inherited by the Ray workers
    study = load_study(write_study(tmp_path / "study.yaml", grid__seeds=[0]))  # 12 runs
    local = run_sweep(study, tmp_path / "local", run_function=SYNTHETIC, check=False)
    settings = ExecutorSettings(kind="ray", workers=2, resources=Resources(num_cpus=1))
    remote = run_sweep(
        study, tmp_path / "ray", run_function=SYNTHETIC, executor=settings, check=False
    )
    assert (remote.done, remote.failed) == (local.done, local.failed) == (8, 4)
    assert remote.failures[0][1] == "RuntimeError: synthetic failure for rank 2"
    assert not ray.is_initialized()  # the sweep shut down the Ray it started
    assert read_csv(tmp_path / "ray" / "results.csv") == read_csv(
        tmp_path / "local" / "results.csv"
    )
