"""`miub demo`: the whole loop on the built-in world — sweep → fit → report.

Runs the shipped study ``demo`` (or ``demo-quick``) into an out dir, fits the scaling laws,
writes the report, and returns what the terminal summary needs. Resumable like any sweep:
running it again into the same dir skips finished runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from miub.analysis.analysis import Analysis
from miub.sweeps.study import load_study, resolve_study_path
from miub.sweeps.sweep import SweepObserver, SweepSummary, run_sweep


@dataclass(frozen=True)
class DemoOutcome:
    """What a demo produced."""

    study_path: Path
    sweep: SweepSummary
    analysis: Analysis
    report_path: Path
    sweep_s: float
    report_s: float
    fit_message: str = ""


def run_demo(
    out_dir: Path,
    *,
    quick: bool = False,
    observer: SweepObserver | None = None,
    say: Callable[[str], None] | None = None,
) -> DemoOutcome:
    """Sweep the shipped demo study into ``out_dir``, then fit (or reuse a matching fit, see
    :func:`miub.runners.fit.fit_or_reuse`) and report on it."""
    from miub.report import build_report
    from miub.runners.fit import fit_or_reuse

    study_path = resolve_study_path("demo-quick" if quick else "demo")
    study = load_study(study_path)
    started = time.perf_counter()
    summary = run_sweep(
        study, out_dir, study_text=study_path.read_text(encoding="utf-8"), observer=observer
    )
    swept = time.perf_counter()
    fitted = fit_or_reuse(out_dir, progress=say)
    report_path = build_report(out_dir, fitted.analysis, progress=say)
    return DemoOutcome(
        study_path=study_path,
        sweep=summary,
        analysis=fitted.analysis,
        report_path=report_path,
        sweep_s=swept - started,
        report_s=time.perf_counter() - swept,
        fit_message=fitted.message,
    )
