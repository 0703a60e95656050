"""The demo's terminal summary prints every verdict with its statistic, Holm p and effect."""

from __future__ import annotations

import io
import math
from pathlib import Path

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
        if math.isfinite(claim.p_holm):  # bootstrap-CI claims (stabler, fits better) have none
            assert f"{claim.p_holm:.3g}" in text
