"""`miub demo --quick` end to end: sweep → fit → report on the built-in world."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_quick_demo_writes_results_fits_and_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "160"}
    completed = subprocess.run(
        [sys.executable, "-m", "miub", "demo", "--quick", "--out", str(out)],
        capture_output=True, text=True, env=env, check=False, timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "report:" in completed.stdout and "Which metric" in completed.stdout

    with (out / "results.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["status"] == "done" for row in rows)
    assert {"js_mi", "js_mi_stderr", "ce", "acc"} <= set(rows[0])
    # The quick study varies all three axes.
    assert len({row["model"] for row in rows}) >= 2
    assert len({row["rank"] for row in rows}) >= 2
    assert len({row["data_size"] for row in rows}) >= 2

    fits = json.loads((out / "fits.json").read_text())
    assert fits["claims"], "claim verdicts missing"
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http://" not in html
    figures = sorted((out / "figures").glob("*.png"))
    assert figures and all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in figures)
