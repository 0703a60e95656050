"""The Ray executor on a local Ray: the same numbers as the local executor."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import SYNTHETIC, read_csv, runner_failing_on_rank_2, write_study

from miub.sweeps import load_study, run_sweep
from miub.sweeps.study import ExecutorSettings, Resources

ray = pytest.importorskip("ray")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_ray_executor_matches_local(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path / "study.yaml", grid__seeds=[0]))  # 12 runs
    run_sweep(study, tmp_path / "local", runner=SYNTHETIC, check=False)
    settings = ExecutorSettings(kind="ray", workers=2, resources=Resources(num_cpus=1))
    summary = run_sweep(
        study, tmp_path / "ray", runner=runner_failing_on_rank_2, executor=settings, check=False
    )
    assert (summary.done, summary.failed) == (8, 4)
    assert not ray.is_initialized()  # the sweep shut down the Ray it started
    retried = run_sweep(
        study, tmp_path / "ray", runner=SYNTHETIC, executor=settings, retry_failed=True, check=False
    )
    assert retried.done == 4
    assert read_csv(tmp_path / "ray" / "results.csv") == read_csv(
        tmp_path / "local" / "results.csv"
    )
