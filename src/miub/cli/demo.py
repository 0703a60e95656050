"""`miub demo`: sweep → fit → report on the built-in world, with a compact summary."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.cli.sweep import RichProgress
from miub.runners.demo import DemoOutcome, run_demo


def print_demo_summary(outcome: DemoOutcome, console: Console) -> None:
    """Runs, the stability table in brief, the claim verdicts and the report's path."""
    summary, analysis = outcome.sweep, outcome.analysis
    console.print(
        f"[bold]{summary.study}[/]: {summary.total} runs ({summary.done} run now, "
        f"{summary.skipped} already done, {summary.failed} failed) in {outcome.sweep_s:.0f} s; "
        f"fit + report in {outcome.report_s:.0f} s",
        highlight=False,
    )
    rows = analysis.summary_rows()
    if rows:
        table = Table(title="Which metric follows the scaling laws most accurately and stably?")
        for column in rows[0]:
            table.add_column(column, justify="left" if column in ("metric", "kind") else "right")
        for row in rows:
            table.add_row(*row.values())
        console.print(table)
    console.print(analysis.answer(), highlight=False)
    claims = Table(title="The paper's claims on this world")
    for column in ("claim", "estimator", "verdict", "numbers"):
        claims.add_column(column, overflow="fold")
    colours = {"supported": "green", "not supported": "red", "inconclusive": "yellow"}
    for claim in analysis.claims:
        colour = colours.get(claim.verdict, "white")
        claims.add_row(claim.claim, claim.estimator, f"[{colour}]{claim.verdict}[/]", claim.reason)
    console.print(claims)
    console.print(f"report: [bold]{outcome.report_path.resolve()}[/]", highlight=False)


@app.command("demo")
def demo(
    quick: bool = typer.Option(False, "--quick", help="the small study (≤ 2 min on 2 CPU cores)"),
    out: Path = typer.Option(Path("miub-demo"), "--out", help="results dir (resumable)"),
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
