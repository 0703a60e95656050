"""The demo's terminal summary prints every verdict with its statistic, Holm p and effect."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from rich.console import Console

from miub import analysis
from miub.cli.demo import print_demo_summary
from miub.runners.demo import DemoOutcome
from miub.sweeps.sweep import SweepSummary
from miub.testing.synthetic_results import synthetic_results


def test_summary_prints_each_verdict_with_its_test(tmp_path: Path) -> None:
    result = analysis.analyze(synthetic_results("slices", seeds=3), bootstrap=0, joint_bootstrap=0)
    summary = SweepSummary("synthetic", "hash", tmp_path, total=len(result.frame))
    outcome = DemoOutcome(tmp_path / "s.yaml", summary, result, tmp_path / "r.html", 1.0, 1.0)
    buffer = io.StringIO()
    print_demo_summary(outcome, Console(file=buffer, width=200, color_system=None))
    text = buffer.getvalue()
    assert "p_Holm" in text and "effect" in text
    for claim in result.claims:
        assert claim.short in text
        if math.isfinite(claim.p_holm):  # no p: not enough levels or seeds for the test
            assert f"{claim.p_holm:.3g}" in text


def test_fit_summary_prints_each_verdict_with_its_test(capsys: pytest.CaptureFixture[str]) -> None:
    from miub.cli.analyze import print_summary

    result = analysis.analyze(synthetic_results("slices", seeds=3), bootstrap=0, joint_bootstrap=0)
    print_summary(result)
    text = capsys.readouterr().out
    assert "Each verdict's test" in text and "p_Holm" in text
    for row in result.claim_rows():
        assert row["claim"] in text and row["p_Holm"] in text
