"""The default runner (``miub train``'s code path) through a sweep, on the smallest zoo model."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_helpers import read_csv

from miub.sweeps import check_study, parse_study, run_sweep
from miub.sweeps.export import BASE_COLUMNS


@pytest.mark.slow
def test_real_runs_fill_the_store_and_csv(tmp_path: Path) -> None:
    study = parse_study(
        {
            "name": "tiny-real",
            "grid": {
                "models": ["zoo:world-xxs"],
                "tasks": ["recall"],
                "ranks": [1, 2],
                "data_sizes": [16],
                "seeds": [0],
            },
            "training": {"epochs": 1, "max_length": 64, "device": "cpu"},
            "eval": {"eval_examples": 16, "ce_examples": 16},
            "estimators": ["js-mi"],
        }
    )
    assert check_study(study) == []
    summary = run_sweep(study, tmp_path / "out", check=False)  # the default runner
    assert (summary.done, summary.failed) == (2, 0), summary.failures
    header, rows = read_csv(tmp_path / "out" / "results.csv", drop=())
    assert header[: len(BASE_COLUMNS)] == list(BASE_COLUMNS) and header[-1] == "wall_s"
    assert {"js_mi", "js_mi_stderr", "mi", "mi_stderr"} <= set(header)
    for row in rows:
        values = dict(zip(header, row, strict=True))
        assert float(values["ce"]) > 0 and 0 <= float(values["acc"]) <= 1
        assert int(values["n_params"]) > 0 and float(values["js_mi"]) >= 0
        run_dir = tmp_path / "out" / "runs" / values["run_key"]
        assert (run_dir / "result.json").is_file() and (run_dir / "adapter").is_dir()
