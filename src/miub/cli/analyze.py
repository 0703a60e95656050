"""``miub fit DIR`` (writes DIR/fits.json) and ``miub report DIR`` (writes DIR/report.html
and DIR/figures/*.png, reusing DIR/fits.json when it still matches) for the output directory
of a ``miub sweep``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.cli.paths import path_value
from miub.errors import MiubUserError
from miub.runners.fit import DEFAULT_BOOTSTRAP, DEFAULT_JOINT_BOOTSTRAP

_console = Console(stderr=True)
_BOOTSTRAP = typer.Option(
    DEFAULT_BOOTSTRAP, "--bootstrap", min=0, help="Bootstrap resamples per axis law."
)
_JOINT = typer.Option(
    DEFAULT_JOINT_BOOTSTRAP, "--joint-bootstrap", min=0, help="Resamples per joint (N,R,D) law."
)
_SEED = typer.Option(0, "--seed", help="Seed of the bootstrap.")
_DIRECTORY = typer.Argument(
    ..., metavar="DIR", parser=path_value, help="Output dir of `miub sweep` (has results.csv)."
)


MIN_LEVELS = 2
"""Levels an axis (N, R or D) needs on a slice before a trend along it can be measured."""
MIN_SEEDS = 2
"""Seeds some level of that slice needs: without replicates there is no seed noise, so the
noise-to-signal ratio, the stability score and every claim test are undefined."""


def _checked_study_dir(directory: Path) -> Path:
    """Fail before fitting: the dir must be writable; a sweep dir's store sound and consistent
    with results.csv (a sweep dir: it has ``runs.sqlite``, or run dirs with the sweep's
    ``outcome.json`` whose store was lost; a results.csv without them, e.g. a committed copy,
    is read as it is); and the design able to carry a verdict."""
    from miub.cli.paths import study_dir_for_writing
    from miub.sweeps.rebuild import OUTCOME_FILE
    from miub.sweeps.store import verify_store

    directory = study_dir_for_writing(directory)
    swept = next(directory.glob(f"runs/*/{OUTCOME_FILE}"), None) is not None
    if (directory / "runs.sqlite").exists() or swept:
        verify_store(directory)
    check_design(directory)
    return directory


def check_design(directory: Path) -> None:
    """MiubUserError unless some axis (N, R, D) varies over >= ``MIN_LEVELS`` levels on a slice
    with >= ``MIN_SEEDS`` seeds at one of its levels. Below that no law, NSR or rank can be
    estimated, and the analysis would still name a "winner" (with a NaN score): refuse instead.
    The slices are the analysis' own (:func:`miub.analysis.design.axis_slice`)."""
    from miub.analysis import load_results
    from miub.analysis.design import AXES, axis_slice
    from miub.laws.axes import AXIS_COLUMNS

    frame = load_results(directory).frame
    for axis in AXES:
        piece = axis_slice(frame, axis)
        if piece is None or piece.rows[piece.column].nunique() < MIN_LEVELS:
            continue
        seeds = piece.rows.groupby(piece.column)["seed"].nunique() if "seed" in frame else None
        if seeds is not None and int(seeds.max()) >= MIN_SEEDS:
            return
    design = ", ".join(
        f"{axis}: {frame[column].nunique() if column in frame else 0} level(s)"
        for axis, column in ((axis, AXIS_COLUMNS[axis]) for axis in AXES)
    )
    n_seeds = frame["seed"].nunique() if "seed" in frame else 1
    raise MiubUserError(
        f"{directory}: no verdict from {len(frame)} finished run(s) ({design}; {n_seeds} "
        f"seed(s)): fitting laws and ranking metrics need an axis with >= {MIN_LEVELS} levels "
        f"and >= {MIN_SEEDS} seeds at a level (to tell a trend from seed noise); add levels or "
        f"seeds to the study and run `miub sweep STUDY --out {directory} --allow-changed`"
    )


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
    claim_rows = analysis.claim_rows()
    if claim_rows:
        tests = Table(title="Each verdict's test (p_Holm: Holm-adjusted within the claim family)")
        for key in claim_rows[0]:
            left = key in ("estimator", "claim", "verdict")
            tests.add_column(key, justify="left" if left else "right")
        for claim_row in claim_rows:
            tests.add_row(*claim_row.values())
        console.print(tests)
    for note in analysis.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


@app.command("fit")
def fit_command(
    directory: Path = _DIRECTORY,
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
    directory: Path = _DIRECTORY,
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
