"""`miub train` end to end in a temp dir, through the real entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from miub.cli.main import main


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", ["miub", *args])
    try:
        main()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@pytest.mark.slow
def test_train_writes_result_adapter_and_logs(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    code = run_cli(
        [
            "train", "--model", str(tiny_model_dir), "--task", "novel", "--rank", "2",
            "--data-size", "16", "--seed", "3", "--out", str(out), "--epochs", "1",
            "--batch-size", "8", "--eval-examples", "8", "--estimator", "js-mi",
            "--estimator", "norm-ratio", "--eval-interval", "1", "--device", "cpu",
            "--no-progress",
        ],
        monkeypatch,
    )  # fmt: skip
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["rank"] == 2 and result["config"]["seed"] == 3
    assert result["config"]["eval"]["estimators"] == ["js-mi", "norm-ratio"]
    assert {"acc", "ce", "ppl", "js_mi", "norm_ratio"} <= set(result["metrics"])
    # `miub train` evaluates at step 0 (the zero-shot baseline) by default, on 1 thread
    assert [entry["step"] for entry in result["history"]] == [0, 1, 2]
    assert result["config"]["eval"]["at_start"] is True and result["config"]["threads"] == 1
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "metrics.csv").is_file()


def test_bad_input_is_one_line_exit_2(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    base = ["train", "--task", "novel", "--out", str(tmp_path / "x"), "--no-progress"]
    cases = [
        (["--model", str(tmp_path / "missing")], "does not exist"),
        (["--model", str(tiny_model_dir), "--rank", "0"], "rank"),
        (["--model", str(tiny_model_dir), "--estimator", "nope"], "unknown estimator"),
        (["--model", str(tiny_model_dir), "--task", "nope"], "unknown task"),
    ]
    for extra, message in cases:
        assert run_cli([*base, *extra], monkeypatch) == 2
        last_line = capsys.readouterr().err.strip().splitlines()[-1]
        assert last_line.startswith("error:") and message in last_line
