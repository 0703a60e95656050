"""build_report and the CLI on a synthetic sweep directory: files, self-containment, PNGs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from miub.cli.main import _register_commands, app
from miub.report import build_report
from miub.runners.fit import fit_directory
from miub.testing.synthetic_results import write_synthetic_sweep

PNG = b"\x89PNG\r\n\x1a\n"


def _rank_only(directory: Path) -> Path:
    """Keep the runs of the rank slice only (one axis: a fast analysis)."""
    csv = directory / "results.csv"
    frame = pd.read_csv(csv)
    frame[(frame["model"] == "tiny-s") & (frame["data_size"] == 128)].to_csv(csv, index=False)
    return directory


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = write_synthetic_sweep(tmp_path_factory.mktemp("sweep"))
    csv = directory / "results.csv"  # fewer metrics: fewer fits and panels to draw
    pd.read_csv(csv).drop(
        columns=["cosine", "cosine_stderr", "token_jsd", "token_jsd_stderr"]
    ).to_csv(csv, index=False)
    analysis, _ = fit_directory(directory, bootstrap=20, joint_bootstrap=0)
    build_report(directory, analysis)
    return directory


def test_report_files_exist_and_are_self_contained(report_dir: Path) -> None:
    html = (report_dir / "report.html").read_text()
    figures = sorted(p.name for p in (report_dir / "figures").glob("*.png"))
    assert figures == [
        "breakdown.png",
        "metric_vs_D.png",
        "metric_vs_N.png",
        "metric_vs_R.png",
        "metric_vs_err.png",
    ]
    for name in figures:
        assert (report_dir / "figures" / name).read_bytes().startswith(PNG)
    assert html.count("data:image/png;base64,") == len(figures)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "http://" not in html and "https://" not in html
    for text in ("supported", "Which metric follows", "js_mi", "git revision"):
        assert text in html
    fits = json.loads((report_dir / "fits.json").read_text())
    assert {"claims", "stability", "per_axis", "miub"} <= set(fits)


def test_partial_report_without_breakdown_or_accuracy(tmp_path: Path) -> None:
    directory = _rank_only(write_synthetic_sweep(tmp_path))
    for result in (directory / "runs").glob("*/result.json"):
        result.write_text("{}")
    csv = directory / "results.csv"
    csv.write_text(csv.read_text().replace(",acc,", ",accuracy_old,"))
    analysis, _ = fit_directory(directory, bootstrap=0, joint_bootstrap=0)
    html = build_report(directory, analysis).read_text()
    assert "no per-layer / per-module heatmap" in html
    assert "no values for err" in html
    assert not (directory / "figures" / "metric_vs_err.png").exists()


def test_cli_fit_and_errors(tmp_path: Path) -> None:
    _register_commands()
    runner = CliRunner()
    directory = _rank_only(write_synthetic_sweep(tmp_path / "sweep"))
    result = runner.invoke(
        app, ["fit", str(directory), "--bootstrap", "0", "--joint-bootstrap", "0"]
    )
    assert result.exit_code == 0, result.output
    assert (directory / "fits.json").exists()
    assert "js_mi" in result.output
    missing = runner.invoke(app, ["fit", str(tmp_path)])
    assert missing.exit_code != 0
    assert "results.csv not found" in str(missing.exception)
