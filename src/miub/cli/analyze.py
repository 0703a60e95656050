"""``miub fit DIR`` (writes DIR/fits.json) and ``miub report DIR`` (writes DIR/report.html
and DIR/figures/*.png, reusing DIR/fits.json when it still matches) for the output directory
of a ``miub sweep``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.runners.fit import DEFAULT_BOOTSTRAP, DEFAULT_JOINT_BOOTSTRAP

_console = Console(stderr=True)
_BOOTSTRAP = typer.Option(
    DEFAULT_BOOTSTRAP, "--bootstrap", min=0, help="Bootstrap resamples per axis law."
)
_JOINT = typer.Option(
    DEFAULT_JOINT_BOOTSTRAP, "--joint-bootstrap", min=0, help="Resamples per joint (N,R,D) law."
)
_SEED = typer.Option(0, "--seed", help="Seed of the bootstrap.")


def _checked_study_dir(directory: Path) -> Path:
    """Fail before fitting: the dir must be writable, and a store beside results.csv sound and
    consistent with it (a results.csv alone, e.g. a committed copy, is read as it is)."""
    from miub.cli.paths import study_dir_for_writing
    from miub.sweeps.store import verify_store

    directory = study_dir_for_writing(directory)
    if (directory / "runs.sqlite").exists():
        verify_store(directory)
    return directory


def _progress(message: str) -> None:
    _console.print(f"[dim]{message}…[/dim]")


def print_summary(analysis: object) -> None:
    """The analysis' compact table and claim verdicts, on stdout."""
    from miub.analysis import Analysis

    assert isinstance(analysis, Analysis)
    console = Console()
    rows = analysis.summary_rows()
    if rows:
        table = Table(title="Metrics (best first)")
        for key in rows[0]:
            table.add_column(
                key, justify="left" if key in ("metric", "kind", "claims") else "right"
            )
        for row in rows:
            table.add_row(*row.values())
        console.print(table)
    console.print(analysis.answer())
    for note in analysis.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


@app.command("fit")
def fit_command(
    directory: Path = typer.Argument(..., help="Output dir of `miub sweep` (has results.csv)."),
    bootstrap: int = _BOOTSTRAP,
    joint_bootstrap: int = _JOINT,
    seed: int = _SEED,
) -> None:
    """Fit scaling laws for every metric; write DIR/fits.json."""
    from miub.runners.fit import fit_directory

    directory = _checked_study_dir(directory)
    analysis, path = fit_directory(directory, bootstrap, joint_bootstrap, seed, _progress)
    print_summary(analysis)
    typer.echo(f"wrote {path}")


@app.command("report")
def report_command(
    directory: Path = typer.Argument(..., help="Output dir of `miub sweep` (has results.csv)."),
    bootstrap: int = _BOOTSTRAP,
    joint_bootstrap: int = _JOINT,
    seed: int = _SEED,
) -> None:
    """Write DIR/report.html (self-contained) and DIR/figures/*.png; reuses DIR/fits.json when
    it is newer than the store and matches these settings and results.csv, else refits."""
    from miub.runners.fit import report_directory

    directory = _checked_study_dir(directory)
    path, outcome = report_directory(directory, bootstrap, joint_bootstrap, seed, _progress)
    typer.echo(outcome.message)
    typer.echo(f"wrote {path}")
