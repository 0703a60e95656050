"""The fit recipe of a sweep directory: ``DIR/results.csv`` → :class:`Analysis` → ``DIR/fits.json``.

``fit_directory`` always fits; ``fit_or_reuse`` reuses the last fit when it is still valid,
so ``miub fit DIR && miub report DIR`` fits once. A fit is reused when

- ``fits.json`` is newer than the store (``runs.sqlite``, its ``-wal``, and ``results.csv``),
- its ``fingerprint`` equals the current one: SHA-256 over the analysis settings (bootstrap
  counts, seed), the SHA-256 of ``results.csv`` and the miub version and git revision, and
- the analysis can be rebuilt from it (:func:`miub.analysis.restore.analysis_from_dict`:
  every fitted number, bootstrap samples included, comes from ``fits.json``; only the runs
  themselves come from ``results.csv``, whose hash the fingerprint holds).

Otherwise it refits and says why in one line. ``fits.json`` is the only record of a fit
(no pickle or other binary cache).

Default bootstrap: 200 resamples per axis law and 200 resamples of seeds behind the claims'
CIs (``analyze`` defaults to 1000 and 400); joint (N, R, D) laws are point fits unless
``--joint-bootstrap N`` (each resample is a 5-7-parameter fit: 50 of them cost as much as the
whole rest of the demo's fit). The Monte Carlo error of a 2.5 % / 97.5 %
percentile estimated from B resamples is ≈ √(p(1−p)/B) / f(q) in the quantile's units, i.e.
a coverage error of √(0.025·0.975/200) ≈ 0.011 in probability: 200 resamples put each end of
a 95 % CI within ±0.01 of its nominal tail probability (1000 gives ±0.005 at 5× the cost).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miub.analysis import Analysis, analyze, load_results
from miub.analysis.restore import analysis_from_dict
from miub.analysis.results import RESULTS_FILE
from miub.provenance import provenance

FITS_FILE = "fits.json"
LEGACY_CACHE = "fits.analysis.pkl"  # written by older versions; removed when we write
STORE_FILES = ("runs.sqlite", "runs.sqlite-wal", RESULTS_FILE)
DEFAULT_BOOTSTRAP = 200
DEFAULT_JOINT_BOOTSTRAP = 0  # joint laws: point fits unless --joint-bootstrap N
CLAIM_BOOTSTRAP = 200  # resamples of seeds behind the "stabler" / "fits better" CIs


@dataclass(frozen=True)
class FitOutcome:
    """An analysis, the ``fits.json`` it is recorded in, and whether it was reused."""

    analysis: Analysis
    path: Path
    reused: bool
    message: str


def results_hash(directory: Path) -> str:
    """SHA-256 of ``DIR/results.csv`` (hex)."""
    return hashlib.sha256((directory / RESULTS_FILE).read_bytes()).hexdigest()


def fingerprint(directory: Path, settings: dict[str, Any]) -> str:
    """SHA-256 of the analysis settings, the results' hash and the miub version and git
    revision (hex; a new commit invalidates it, uncommitted edits to the code do not)."""
    origin = provenance()
    version = [str(origin.get("versions", {}).get("miub", "")), str(origin.get("git_revision"))]
    key = json.dumps(
        {"settings": settings, "results": results_hash(directory), "miub": version},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(key.encode()).hexdigest()


def _settings(bootstrap: int, joint_bootstrap: int, seed: int) -> dict[str, Any]:
    return {
        "bootstrap": bootstrap,
        "joint_bootstrap": joint_bootstrap,
        "claim_bootstrap": CLAIM_BOOTSTRAP,
        "seed": seed,
    }


def write_fits(analysis: Analysis, directory: Path, key: str | None = None) -> Path:
    """``DIR/fits.json``: the analysis as JSON plus provenance and the fit's fingerprint (all
    that :func:`fit_or_reuse` needs to rebuild it)."""
    key = key or fingerprint(directory, analysis.settings)
    payload = _finite({"miub": provenance(), "fingerprint": key, **analysis.to_dict()})
    (directory / LEGACY_CACHE).unlink(missing_ok=True)
    path = directory / FITS_FILE
    path.write_text(json.dumps(payload, indent=2, allow_nan=False, default=_json_default))
    return path


def fit_directory(
    directory: str | Path,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    joint_bootstrap: int = DEFAULT_JOINT_BOOTSTRAP,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[Analysis, Path]:
    """Analyse ``DIR/results.csv`` and write ``DIR/fits.json`` (always fits)."""
    directory = Path(directory)
    results = load_results(directory)
    key = fingerprint(directory, _settings(bootstrap, joint_bootstrap, seed))
    analysis = analyze(results, bootstrap, joint_bootstrap, seed, progress, CLAIM_BOOTSTRAP)
    analysis.settings["claim_bootstrap"] = CLAIM_BOOTSTRAP
    return analysis, write_fits(analysis, directory, key)


def stale_reason(directory: Path, bootstrap: int, joint_bootstrap: int, seed: int) -> str | None:
    """Why ``DIR/fits.json`` cannot be reused for these settings, or None when it can."""
    path = directory / FITS_FILE
    if not path.is_file():
        return "no fits.json yet"
    fitted = path.stat().st_mtime
    for name in STORE_FILES:
        store = directory / name
        if store.is_file() and store.stat().st_mtime > fitted:
            return f"{name} is newer than fits.json"
    try:
        recorded = json.loads(path.read_text()).get("fingerprint")
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return "fits.json is unreadable"
    if not (directory / RESULTS_FILE).is_file():
        return f"no {RESULTS_FILE}"
    if recorded != fingerprint(directory, _settings(bootstrap, joint_bootstrap, seed)):
        return "fits.json was fitted with other settings or results"
    return None


def _load_fits(directory: Path, key: str) -> tuple[Analysis | None, str]:
    """The analysis rebuilt from ``DIR/fits.json`` if its fingerprint is ``key``, else None
    and why."""
    try:
        record = json.loads((directory / FITS_FILE).read_text())
        if record.get("fingerprint") != key:
            return None, "fits.json was fitted with other settings or results"
        return analysis_from_dict(record, load_results(directory)), ""
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        return None, f"fits.json could not be read back ({type(error).__name__}: {error})"


def fit_or_reuse(
    directory: str | Path,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    joint_bootstrap: int = DEFAULT_JOINT_BOOTSTRAP,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> FitOutcome:
    """The analysis of ``DIR``: the saved fit when still valid (see the module doc), else a
    new fit; ``message`` is one line saying which and why."""
    directory = Path(directory)
    reason = stale_reason(directory, bootstrap, joint_bootstrap, seed)
    if reason is None:
        key = fingerprint(directory, _settings(bootstrap, joint_bootstrap, seed))
        analysis, reason = _load_fits(directory, key)
        if analysis is not None:
            path = directory / FITS_FILE
            return FitOutcome(analysis, path, True, f"reusing {path} (matches results.csv)")
    analysis, path = fit_directory(directory, bootstrap, joint_bootstrap, seed, progress)
    return FitOutcome(analysis, path, False, f"refitted ({reason}); wrote {path}")


def report_directory(
    directory: str | Path,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    joint_bootstrap: int = DEFAULT_JOINT_BOOTSTRAP,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, FitOutcome]:
    """``DIR/report.html`` (and figures) from the saved fit when valid, else a new one."""
    from miub.report import build_report

    outcome = fit_or_reuse(directory, bootstrap, joint_bootstrap, seed, progress)
    return build_report(directory, outcome.analysis, progress), outcome


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _finite(value: Any) -> Any:
    """NaN / inf → None, recursively (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value
