"""`miub report DIR` reuses DIR/fits.json when it is newer than the store and matches its
settings and results.csv, and refits (saying why, in one line) otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from miub.cli.main import _register_commands, app
from miub.runners import fit
from miub.testing.synthetic_results import write_synthetic_sweep

_FAST = ["--bootstrap", "0", "--joint-bootstrap", "0"]


@pytest.fixture
def fitted(tmp_path: Path) -> Path:
    """A one-axis synthetic sweep with a fresh fits.json (bootstrap 0: fast)."""
    directory = write_synthetic_sweep(tmp_path / "sweep")
    csv = directory / "results.csv"
    frame = pd.read_csv(csv)
    frame[(frame["model"] == "tiny-s") & (frame["data_size"] == 128)].to_csv(csv, index=False)
    old = (directory / "results.csv").stat().st_mtime - 10  # the store predates the fit
    for name in fit.STORE_FILES:
        if (directory / name).exists():
            os.utime(directory / name, (old, old))
    fit.fit_directory(directory, bootstrap=0, joint_bootstrap=0)
    return directory


@pytest.fixture
def analyze_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the real ``analyze`` that the fit recipe uses."""
    calls: list[int] = []
    real = fit.analyze

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fit, "analyze", counted)
    return calls


def _report(directory: Path, *options: str) -> str:
    _register_commands()
    result = CliRunner().invoke(app, ["report", str(directory), *options])
    assert result.exit_code == 0, result.output
    assert (directory / "report.html").is_file()
    return result.output


def test_report_reuses_a_matching_fit(fitted: Path, analyze_calls: list[int]) -> None:
    fits = fitted / fit.FITS_FILE
    before = (fits.stat().st_mtime_ns, fits.read_bytes())
    output = _report(fitted, *_FAST)
    assert analyze_calls == []
    assert (fits.stat().st_mtime_ns, fits.read_bytes()) == before
    assert "reusing" in output and "refitted" not in output


def test_report_refits_when_the_results_are_newer(fitted: Path, analyze_calls: list[int]) -> None:
    csv = fitted / "results.csv"
    frame = pd.read_csv(csv)
    frame.iloc[1:].to_csv(csv, index=False)
    newer = (fitted / fit.FITS_FILE).stat().st_mtime + 5
    os.utime(csv, (newer, newer))
    output = _report(fitted, *_FAST)
    assert analyze_calls == [1]
    assert "refitted (results.csv is newer than fits.json)" in output


def test_report_refits_when_results_change_without_a_newer_mtime(
    fitted: Path, analyze_calls: list[int]
) -> None:
    csv = fitted / "results.csv"
    stamp = csv.stat().st_mtime
    pd.read_csv(csv).iloc[1:].to_csv(csv, index=False)
    os.utime(csv, (stamp, stamp))  # content changed, mtime kept: the hash must catch it
    output = _report(fitted, *_FAST)
    assert analyze_calls == [1]
    assert "other settings or results" in output


def test_report_refits_for_other_settings(fitted: Path, analyze_calls: list[int]) -> None:
    output = _report(fitted, "--bootstrap", "5", "--joint-bootstrap", "0")
    assert analyze_calls == [1]
    assert "other settings or results" in output
    # and the new fit is then reused under the same settings
    _report(fitted, "--bootstrap", "5", "--joint-bootstrap", "0")
    assert analyze_calls == [1]


def test_report_refits_without_fits(tmp_path: Path, analyze_calls: list[int]) -> None:
    directory = write_synthetic_sweep(tmp_path / "sweep")
    csv = directory / "results.csv"
    frame = pd.read_csv(csv)
    frame[(frame["model"] == "tiny-s") & (frame["data_size"] == 128)].to_csv(csv, index=False)
    output = _report(directory, *_FAST)
    assert analyze_calls == [1] and "refitted (no fits.json yet)" in output


def test_fits_json_alone_restores_the_analysis(tmp_path: Path) -> None:
    """The analysis rebuilt from fits.json (plus the runs of results.csv) writes the same
    record, predicts the same laws and bands, and no pickle or other cache is written."""
    import json

    import numpy as np

    directory = write_synthetic_sweep(tmp_path / "sweep")
    (directory / fit.LEGACY_CACHE).write_bytes(b"old pickle")
    analysis, _ = fit.fit_directory(directory, bootstrap=12, joint_bootstrap=3)
    assert not (directory / fit.LEGACY_CACHE).exists()
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith("fits")) == ["fits.json"]
    outcome = fit.fit_or_reuse(directory, bootstrap=12, joint_bootstrap=3)
    assert outcome.reused and "reusing" in outcome.message
    restored = outcome.analysis
    assert json.dumps(fit._finite(restored.to_dict()), default=fit._json_default) == json.dumps(
        fit._finite(analysis.to_dict()), default=fit._json_default
    )
    pd.testing.assert_frame_equal(restored.stability, analysis.stability)
    assert [c.to_dict() for c in restored.claims] == [c.to_dict() for c in analysis.claims]
    grid = pd.DataFrame({"rank": np.geomspace(1, 16, 7)})
    before = analysis.stats["ce"].axes["R"].fits["additive"]
    after = restored.stats["ce"].axes["R"].fits["additive"]
    assert before.n_bootstrap > 0 and after.bootstrap_theta_.shape == before.bootstrap_theta_.shape
    np.testing.assert_array_equal(after.predict(grid), before.predict(grid))
    np.testing.assert_array_equal(after.predict_band(grid)[0], before.predict_band(grid)[0])
    joint = restored.joint["ce"]["additive"]
    assert joint.n_bootstrap == analysis.joint["ce"]["additive"].n_bootstrap


def test_report_refits_when_fits_json_cannot_be_read_back(
    fitted: Path, analyze_calls: list[int]
) -> None:
    """Same fingerprint, but a record that is not an analysis: refit and say why."""
    import json

    fits = fitted / fit.FITS_FILE
    record = json.loads(fits.read_text())
    del record["per_axis"]
    stamp = fits.stat().st_mtime
    fits.write_text(json.dumps(record))
    os.utime(fits, (stamp, stamp))
    output = _report(fitted, *_FAST)
    assert analyze_calls == [1]
    assert "refitted (fits.json could not be read back (KeyError" in output
