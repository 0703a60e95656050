"""`miub demo`: sweep → fit → report on the built-in world, with a compact summary."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.cli.sweep import RichProgress
from miub.runners.demo import DemoOutcome, run_demo

_VERDICT_MARKS = {"supported": "[green]yes[/]", "not supported": "[red]no[/]"}


def _short_claim(claim: str) -> str:
    """'MIUB decreases with LoRA rank R' -> '↓ R'; others keep a one-word name."""
    if claim.startswith("MIUB decreases with"):
        return "↓ " + claim.split()[-1]
    for word, short in (
        ("stable", "stabler"),
        ("accurately", "fits better"),
        ("accuracy", "≈ ACC"),
    ):
        if word in claim:
            return short
    return claim


def print_demo_summary(outcome: DemoOutcome, console: Console) -> None:
    """Runs, the stability ranking, a claim-verdict matrix and the report's path."""
    summary, analysis = outcome.sweep, outcome.analysis
    console.print(
        f"[bold]{summary.study}[/]: {summary.total} runs ({summary.done} run now, "
        f"{summary.skipped} already done, {summary.failed} failed) in {outcome.sweep_s:.0f} s; "
        f"fit + report in {outcome.report_s:.0f} s",
        highlight=False,
    )
    table = Table(title="Which metric follows the scaling laws most accurately and stably?")
    wanted = ["metric", "score", "seed CV", *[f"ρ {axis}" for axis in analysis.axes], "ρ 1−ACC"]
    for column in wanted:
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in analysis.summary_rows():
        table.add_row(*[row.get(column, "") for column in wanted])
    console.print(table)
    console.print(analysis.answer(), highlight=False)

    claims = list(dict.fromkeys(_short_claim(c.claim) for c in analysis.claims))
    verdicts = Table(
        title="The paper's claims (yes = supported, no = not supported, ? = inconclusive)"
    )
    verdicts.add_column("estimator")
    for claim in claims:
        verdicts.add_column(claim, justify="center")
    by_estimator: dict[str, dict[str, str]] = {}
    for c in analysis.claims:
        mark = _VERDICT_MARKS.get(c.verdict, "[yellow]?[/]")
        by_estimator.setdefault(c.estimator, {})[_short_claim(c.claim)] = mark
    for estimator, marks in by_estimator.items():
        verdicts.add_row(estimator, *[marks.get(claim, "") for claim in claims])
    console.print(verdicts)
    console.print("numbers behind each verdict: fits.json and the report", style="dim")
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
