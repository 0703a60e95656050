"""`miub train --config run/result.json` re-runs a run verbatim; key=value overrides and an
existing --out (issue 11 §4, issue 13 §0)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miub.cli.main import main


def _train(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@pytest.mark.slow
def test_config_from_result_json_reproduces_the_run(tiny_model_dir: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    argv = [
        "train", "--model", str(tiny_model_dir), "--task", "novel", "--rank", "2",
        "--data-size", "16", "--seed", "3", "--out", str(first), "--epochs", "1",
        "--batch-size", "8", "--eval-examples", "8", "--device", "cpu", "--no-progress",
        "eval.k=16",
    ]  # fmt: skip
    assert _train(argv) == 0
    result = json.loads((first / "result.json").read_text())
    assert result["config"]["eval"]["k"] == 16  # the override applied
    again = tmp_path / "again"
    assert (
        _train(
            ["train", "--config", str(first / "result.json"), "--out", str(again), "--no-progress"]
        )
        == 0
    )
    rerun = json.loads((again / "result.json").read_text())
    assert rerun["config"] == result["config"] and rerun["run_key"] == result["run_key"]
    assert rerun["metrics"] == result["metrics"]  # same config + seed -> same numbers on CPU
    assert _train(argv) == 2  # first/ holds a run: refused without --overwrite
    assert json.loads((first / "result.json").read_text()) == result
