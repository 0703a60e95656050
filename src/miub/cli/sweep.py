"""``miub sweep STUDY.yaml --out DIR``: run a study, resumably (see :mod:`miub.sweeps`)."""

from __future__ import annotations

from dataclasses import dataclass
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
from miub.cli.paths import path_value, text_value
from miub.errors import MiubUserError, merge, parse_assignments
from miub.sweeps import (
    CSV_NAME,
    STORE_NAME,
    RunStore,
    check_study,
    describe_grid,
    expand_grid,
    resolve_study_path,
    run_sweep,
    study_hash,
)
from miub.sweeps.cost import RunCost, estimate_run_cost, model_config_for_cost
from miub.sweeps.grid import PlannedRun
from miub.sweeps.outcome import RunOutcome
from miub.sweeps.run_function import (
    DEFAULT_RUN_FUNCTION,
    RUN_FUNCTION_ENV,
    run_function_from_env,
)
from miub.sweeps.store import verify_store
from miub.sweeps.study import Study, load_study_data, parse_study


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
        self.running = False

    def started(self, total: int, finished: int) -> None:
        self.progress.update(self.task, total=total, completed=finished)
        self.progress.start_task(self.task)
        self.progress.start()
        self.running = True

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
        """Stop the bar; a bar never started prints nothing (an error stays one line)."""
        if self.running:
            self.progress.stop()
            self.running = False


@app.command("sweep")
def sweep(
    study_file: str = typer.Argument(..., metavar="STUDY.yaml", parser=text_value, help="study file, or a shipped study name (demo, demo-quick)"),
    out: Path = typer.Option(..., "--out", parser=path_value, help="results dir: runs.sqlite, results.csv, runs/"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the grid, its size and cost estimate; run nothing"),
    mfu: float = typer.Option(0.4, "--mfu", min=0.01, max=1.0, help="--dry-run: assumed model FLOP utilisation"),
    peak_tflops: float = typer.Option(989.0, "--peak-tflops", min=1.0, help="--dry-run: peak TFLOP/s of one GPU (989 = H100 bf16 dense)"),
    tokens_per_example: int | None = typer.Option(None, "--tokens-per-example", min=1, help="--dry-run: mean training tokens per example (default: max_length, an upper bound)"),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="re-run failed runs too"),
    allow_changed: bool = typer.Option(False, "--allow-changed", help="run a changed study into an existing DIR"),
    workers: int | None = typer.Option(None, "--workers", min=1, max=4096, help="runs in flight (overrides executor.workers)"),
    executor: str | None = typer.Option(None, "--executor", help="local | ray (overrides executor.kind)"),
    rebuild_store: bool = typer.Option(
        False, "--rebuild-store", "--repair",
        help="rebuild runs.sqlite from runs/*/ (the old store is kept as runs.sqlite.damaged-TIME)",
    ),
    set_values: list[str] | None = typer.Option(
        None, "--set", metavar="PATH=VALUE", help="override a study key, e.g. training.epochs=2 (repeatable)",
    ),
    run_function: str | None = typer.Option(
        None, "--run-function", "--runner", envvar=RUN_FUNCTION_ENV, metavar="MODULE:FUNCTION",
        help="advanced: the function that performs one run (default: miub train's code path)",
    ),
) -> None:  # fmt: skip
    """Run every run of a study that has not finished yet; kill it any time and re-run."""
    console = Console(stderr=True)
    path = resolve_study_path(study_file)
    data = load_study_data(path)
    if set_values and isinstance(data, dict):
        data = merge(data, parse_assignments(set_values, "--set"))
    study = parse_study(data, source=str(path) + (" with --set" if set_values else ""))
    run_function = run_function or run_function_from_env()
    overrides: dict[str, Any] = {}
    if workers is not None:
        overrides["workers"] = workers
    if executor is not None:
        if executor not in ("local", "ray"):
            raise typer.BadParameter("must be local or ray", param_hint="--executor")
        overrides["kind"] = executor
    settings = study.executor.model_copy(update=overrides)
    # a dry run plans for any machine: models and devices missing here are only warnings
    planned = "dry-run (nothing runs here)" if dry_run else run_function or DEFAULT_RUN_FUNCTION
    for warning in check_study(study, run_function=planned):
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if dry_run:
        _print_grid(study, out, CostAssumptions(mfu, peak_tflops, tokens_per_example))
        return
    progress = RichProgress(console, study.name)
    try:
        summary = run_sweep(
            study,
            out,
            study_text=_study_text(path, study, bool(set_values)),
            run_function=run_function,
            executor=settings,
            retry_failed=retry_failed,
            allow_changed=allow_changed,
            rebuild=rebuild_store,
            check=False,
            observer=progress,
        )
    finally:
        progress.stop()
    for note in summary.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(
        f"sweep {summary.study}: {summary.total} runs — {summary.done} done, {summary.failed}"
        f" failed, {summary.skipped} already finished → {summary.out_dir / 'results.csv'}",
        highlight=False,
        soft_wrap=True,
    )
    if summary.failed:
        console.print(
            f"some runs failed: `miub runs {out} --failed` lists them; re-run with --retry-failed"
        )
        raise typer.Exit(1)


def _study_text(path: Path, study: Study, overridden: bool) -> str:
    """The text kept as DIR/study.yaml: the file as written, or the study with --set applied."""
    if not overridden:
        return path.read_text(encoding="utf-8")
    import yaml

    return yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)


@app.command("runs")
def runs(
    out: Path = typer.Argument(..., metavar="DIR", parser=path_value, help="a sweep's results dir"),
    failed: bool = typer.Option(False, "--failed", help="only the failed runs, with their errors"),
) -> None:
    """List the runs of a sweep dir with their status (``--failed``: the failed ones and why)."""
    if not (out / STORE_NAME).is_file():
        raise MiubUserError(f"{out} holds no {STORE_NAME}; pass the --out dir of a sweep")
    verify_store(out, STORE_NAME, CSV_NAME)
    console = Console(soft_wrap=True)
    with RunStore(out / STORE_NAME, read_only=True) as store:
        if failed:
            rows = store.failed_runs()
            for key, model, error in rows:
                console.print(f"{key}  {model}  {error}", highlight=False, markup=False)
            console.print(f"{len(rows)} failed runs", highlight=False)
            return
        statuses = store.all_statuses()
    counts: dict[str, int] = {}
    for key, status in statuses.items():
        counts[status] = counts.get(status, 0) + 1
        console.print(f"{key}  {status}", highlight=False, markup=False)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    console.print(f"{len(statuses)} runs: {summary}", highlight=False)


@app.command("tasks")
def tasks() -> None:
    """List the task names that --task and a study's grid.tasks accept."""
    from miub import tasks as registry

    for name in registry.names():
        typer.echo(name)


@dataclass(frozen=True)
class CostAssumptions:
    mfu: float
    peak_tflops: float
    tokens_per_example: int | None


def _estimate_costs(runs: list[PlannedRun], assumptions: CostAssumptions) -> list[RunCost | None]:
    configs = {model: model_config_for_cost(model) for model in {r.config.model for r in runs}}
    return [
        estimate_run_cost(
            run,
            model_config,
            mfu=assumptions.mfu,
            peak_tflops=assumptions.peak_tflops,
            tokens_per_example=assumptions.tokens_per_example,
        )
        if (model_config := configs[run.config.model]) is not None
        else None
        for run in runs
    ]


def _print_grid(study: Study, out: Path, assumptions: CostAssumptions) -> None:
    """The grid as a table with each run's estimated cost (:mod:`miub.sweeps.cost`) and, when
    ``out`` already holds a store, its status."""
    runs = expand_grid(study)
    costs = _estimate_costs(runs, assumptions)
    statuses: dict[str, str] = {}
    note = ""
    if (out / STORE_NAME).exists() or (out / CSV_NAME).exists():
        verify_store(out, STORE_NAME, CSV_NAME)
    if (out / STORE_NAME).is_file():
        with RunStore(out / STORE_NAME, read_only=True) as store:
            current = store.current_study()
            statuses = store.statuses(study_hash(study))
            if current is not None and current.study_hash != study_hash(study):
                note = f" ({out} holds another study: a real run needs --allow-changed)"
    table = Table(title=f"study {study.name}")
    numeric = ("#", "rank", "data_size", "seed", "tokens", "PFLOP", "GPU-h")
    for column in ("#", "run_key", "model", "task", "rank", "data_size", "seed", *numeric[4:]):
        table.add_column(column, justify="right" if column in numeric else "left")
    table.add_column("status")
    for run, cost in zip(runs, costs, strict=True):
        config = run.config
        status = statuses.get(run.key, "new")
        estimate = (
            [f"{cost.tokens:,}", f"{cost.flops / 1e15:.3g}", f"{cost.gpu_hours:.3g}"]
            if cost is not None
            else ["?", "?", "?"]
        )
        table.add_row(
            str(run.position), run.key, config.model, config.task, str(config.rank),
            str(config.data_size), str(config.seed), *estimate, status,
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
    known = [cost for cost in costs if cost is not None]
    unknown = len(costs) - len(known)
    console.print(
        f"estimated training cost of {len(known)} runs: "
        f"{sum(c.tokens for c in known):,} tokens, {sum(c.flops for c in known):.3g} FLOPs, "
        f"{sum(c.gpu_hours for c in known):.3g} GPU-hours at MFU {assumptions.mfu:g} of "
        f"{assumptions.peak_tflops:g} TFLOP/s; FLOPs = (4·N + 6·N_lora)·T "
        "(+2·N·T with gradient checkpointing), T = data_size·epochs·"
        + (f"{assumptions.tokens_per_example}" if assumptions.tokens_per_example else "max_length")
        + (f"; {unknown} runs of models of unknown size not estimated" if unknown else ""),
        highlight=False,
        soft_wrap=True,
    )
