"""`miub demo`: sweep → fit → report on the built-in world, with a compact summary."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.cli.paths import path_value
from miub.cli.sweep import RichProgress
from miub.runners.demo import DemoOutcome, run_demo

_VERDICT_MARKS = {
    "supported": "[green]yes[/]",
    "not supported": "[red]no[/]",
    "not enough levels": "—",
}


def _num(value: float) -> str:
    return "—" if not math.isfinite(value) else f"{value:.3g}"


def print_demo_summary(outcome: DemoOutcome, console: Console) -> None:
    """Runs, the stability ranking, a claim-verdict matrix and the report's path."""
    summary, analysis = outcome.sweep, outcome.analysis
    console.print(
        f"[bold]{summary.study}[/]: {summary.total} runs ({summary.done} run now, "
        f"{summary.skipped} already done, {summary.failed} failed) in {outcome.sweep_s:.0f} s; "
        f"fit + report in {outcome.report_s:.0f} s",
        highlight=False,
    )
    if outcome.fit_message:
        console.print(outcome.fit_message, style="dim", highlight=False)
    table = Table(title="Which metric follows the scaling laws most accurately and stably?")
    wanted = ["metric", "score", "NSR", *[f"ρ {axis}" for axis in analysis.axes], "ρ 1−ACC"]
    for column in wanted:
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in analysis.summary_rows():
        table.add_row(*[row.get(column, "") for column in wanted])
    console.print(table)
    console.print(analysis.answer(), highlight=False)

    claims = list(dict.fromkeys(c.claim_id for c in analysis.claims))
    short = {c.claim_id: c.short for c in analysis.claims}
    verdicts = Table(
        title="The paper's claims (yes = supported, no = not supported, ? = inconclusive, "
        "— = not enough levels)"
    )
    verdicts.add_column("estimator")
    for claim in claims:
        verdicts.add_column(short[claim], justify="center")
    by_estimator: dict[str, dict[str, str]] = {}
    for c in analysis.claims:
        mark = _VERDICT_MARKS.get(c.verdict, "[yellow]?[/]")
        by_estimator.setdefault(c.estimator, {})[c.claim_id] = mark
    for estimator, marks in by_estimator.items():
        verdicts.add_row(estimator, *[marks.get(claim, "") for claim in claims])
    console.print(verdicts)
    tests = Table(title="Each verdict's test (p_Holm: Holm-adjusted within the claim family)")
    for column in ("estimator", "claim", "verdict", "statistic", "p", "p_Holm", "effect"):
        tests.add_column(column, justify="left" if column in ("estimator", "claim") else "right")
    for c in analysis.claims:
        tests.add_row(
            c.estimator, c.short, c.verdict, _num(c.statistic), _num(c.p), _num(c.p_holm),
            _num(c.effect),
        )  # fmt: skip
    console.print(tests)
    console.print("numbers behind each verdict: fits.json and the report", style="dim")
    console.print(f"report: [bold]{outcome.report_path.resolve()}[/]", highlight=False)


@app.command("demo")
def demo(
    quick: bool = typer.Option(False, "--quick", help="the small study (≤ 2 min on 2 CPU cores)"),
    out: Path = typer.Option(
        Path("miub-demo"), "--out", parser=path_value, help="results dir (resumable)"
    ),
) -> None:
    """Run the whole loop on the built-in tiny model world: sweep, fit laws, write the report."""
    console = Console()
    name = "demo-quick" if quick else "demo"
    progress = RichProgress(console, name)
    try:
        outcome = run_demo(out, quick=quick, observer=progress, say=lambda m: console.log(m))
    finally:
        progress.stop()
    print_demo_summary(outcome, console)
