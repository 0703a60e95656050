"""``miub sweep STUDY.yaml --out DIR``: run a study, resumably (see :mod:`miub.sweeps`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from miub.cli.main import app
from miub.sweeps import (
    STORE_NAME,
    RunStore,
    check_study,
    describe_grid,
    expand_grid,
    load_study,
    resolve_study_path,
    run_sweep,
    study_hash,
)
from miub.sweeps.grid import PlannedRun
from miub.sweeps.outcome import RunOutcome
from miub.sweeps.runners import RUNNER_ENV
from miub.sweeps.study import Study


class RichProgress:
    """Progress bar: runs done/total, failures, elapsed time and ETA."""

    def __init__(self, console: Console, study: str) -> None:
        self.console = console
        self.study = study
        self.failed = 0
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task(f"sweep {study}", total=None, start=False)

    def started(self, total: int, finished: int) -> None:
        self.progress.update(self.task, total=total, completed=finished)
        self.progress.start_task(self.task)
        self.progress.start()

    def finished(self, run: PlannedRun, outcome: RunOutcome) -> None:
        if outcome.status == "failed":
            self.failed += 1
            config = run.config
            self.progress.console.print(
                f"[red]failed[/] {run.key} ({config.model}, {config.task}, r={config.rank},"
                f" D={config.data_size}, seed={config.seed}): {outcome.error}",
                highlight=False,
                soft_wrap=True,
            )
        description = f"sweep {self.study}" + (
            f" [red]{self.failed} failed[/]" if self.failed else ""
        )
        self.progress.update(self.task, advance=1, description=description)

    def stop(self) -> None:
        self.progress.stop()


@app.command("sweep")
def sweep(
    study_file: str = typer.Argument(..., metavar="STUDY.yaml", help="study file, or a shipped study name (demo, demo-quick)"),
    out: Path = typer.Option(..., "--out", help="results dir: runs.sqlite, results.csv, runs/"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the grid and its size; run nothing"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="re-run failed runs too"),
    allow_changed: bool = typer.Option(False, "--allow-changed", help="run a changed study into an existing DIR"),
    workers: int | None = typer.Option(None, "--workers", min=1, help="runs in flight (overrides executor.workers)"),
    executor: str | None = typer.Option(None, "--executor", help="local | ray (overrides executor.kind)"),
    runner: str | None = typer.Option(
        None, "--runner", envvar=RUNNER_ENV, metavar="MODULE:FUNCTION",
        help="advanced: the function that performs one run (default: miub train's code path)",
    ),
) -> None:  # fmt: skip
    """Run every run of a study that has not finished yet; kill it any time and re-run."""
    console = Console(stderr=True)
    path = resolve_study_path(study_file)
    study = load_study(path)
    overrides: dict[str, Any] = {}
    if workers is not None:
        overrides["workers"] = workers
    if executor is not None:
        if executor not in ("local", "ray"):
            raise typer.BadParameter("must be local or ray", param_hint="--executor")
        overrides["kind"] = executor
    settings = study.executor.model_copy(update=overrides)
    for warning in check_study(study):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if dry_run:
        _print_grid(study, out)
        return
    progress = RichProgress(console, study.name)
    try:
        summary = run_sweep(
            study,
            out,
            study_text=path.read_text(encoding="utf-8"),
            runner=runner,
            executor=settings,
            retry_failed=retry_failed,
            allow_changed=allow_changed,
            check=False,
            observer=progress,
        )
    finally:
        progress.stop()
    console.print(
        f"sweep {summary.study}: {summary.total} runs — {summary.done} done, {summary.failed}"
        f" failed, {summary.skipped} already finished → {summary.out_dir / 'results.csv'}",
        highlight=False,
        soft_wrap=True,
    )
    if summary.failed:
        console.print("some runs failed (errors in runs.sqlite); re-run with --retry-failed")
        raise typer.Exit(1)


def _print_grid(study: Study, out: Path) -> None:
    """The grid as a table, with each run's status when ``out`` already holds a store."""
    runs = expand_grid(study)
    statuses: dict[str, str] = {}
    note = ""
    if (out / STORE_NAME).is_file():
        with RunStore(out / STORE_NAME, read_only=True) as store:
            current = store.current_study()
            statuses = store.statuses(study_hash(study))
            if current is not None and current.study_hash != study_hash(study):
                note = f" ({out} holds another study: a real run needs --allow-changed)"
    table = Table(title=f"study {study.name}")
    for column in ("#", "run_key", "model", "task", "rank", "data_size", "seed", "status"):
        table.add_column(
            column, justify="right" if column in ("#", "rank", "data_size", "seed") else "left"
        )
    for run in runs:
        config = run.config
        status = statuses.get(run.key, "new")
        table.add_row(
            str(run.position), run.key, config.model, config.task, str(config.rank),
            str(config.data_size), str(config.seed), status,
        )  # fmt: skip
    console = Console()
    console.print(table)
    finished = sum(status in ("done", "failed") for status in statuses.values())
    console.print(
        f"{describe_grid(study, len(runs))}; {finished} finished, {len(runs) - finished} to run"
        + note,
        highlight=False,
        soft_wrap=True,
    )
