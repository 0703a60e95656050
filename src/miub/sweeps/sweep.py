"""Run a study into an out dir, resumably: the loop behind ``miub sweep``.

``DIR/`` holds ``study.yaml`` (the study last run here), ``runs.sqlite`` (the store, see
:mod:`miub.sweeps.store`), ``results.csv`` (see :mod:`miub.sweeps.export`) and
``runs/<run_key>/`` (each run's own outputs: adapter, result.json). This process is the only
writer: executors hand outcomes back and each finished run is committed in one transaction.
Finished runs are skipped; runs left ``running`` by a crash are re-run (their directory is
cleared first); ``failed`` runs are re-run only with ``retry_failed``. A study that differs from
the one already in ``DIR`` (by :func:`~miub.sweeps.study.study_hash`) is refused unless
``allow_changed``; then it becomes the current study and ``results.csv`` lists its runs after
the earlier studies' finished runs, which stay. Nothing is lost: the store is checked before
it is read (:func:`~miub.sweeps.store.verify_store`; a damaged one is never written), every
finished run also leaves ``runs/<key>/outcome.json`` so the store can be rebuilt
(:mod:`miub.sweeps.rebuild`), and ``DIR/.sweep.lock`` names the pid and host of the sweep
holding ``DIR``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import yaml

from miub.errors import MiubUserError
from miub.sweeps.executors import make_executor
from miub.sweeps.export import CsvExport
from miub.sweeps.grid import PlannedRun, expand_grid
from miub.sweeps.outcome import RunJob, RunOutcome, failed_outcome
from miub.sweeps.rebuild import RebuildSummary, rebuild_store, write_outcome_files
from miub.sweeps.run_function import (
    DEFAULT_RUN_FUNCTION,
    RunFunction,
    resolve_run_function,
    run_function_from_env,
)
from miub.sweeps.store import FinishedRun, RunStore, StudyRecord, verify_store
from miub.sweeps.study import ExecutorSettings, Study, parse_study, study_hash
from miub.training.config import TrainConfig

STORE_NAME = "runs.sqlite"
CSV_NAME = "results.csv"
STUDY_NAME = "study.yaml"
LOCK_NAME = ".sweep.lock"


@dataclass
class SweepSummary:
    """What a sweep did. ``skipped``: runs already finished before it started."""

    study: str
    study_hash: str
    out_dir: Path
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (run_key, error)
    notes: list[str] = field(default_factory=list)  # what the sweep did besides running


class SweepObserver(Protocol):
    """Receives progress events (the CLI shows a rich progress bar)."""

    def started(self, total: int, finished: int) -> None: ...

    def finished(self, run: PlannedRun, outcome: RunOutcome) -> None: ...


def run_sweep(
    study: Study,
    out_dir: str | Path,
    *,
    study_text: str | None = None,
    run_function: RunFunction | str | None = None,
    executor: ExecutorSettings | None = None,
    retry_failed: bool = False,
    allow_changed: bool = False,
    rebuild: bool = False,
    check: bool = True,
    observer: SweepObserver | None = None,
) -> SweepSummary:
    """Run every unfinished run of ``study`` into ``out_dir`` and return a summary.

    ``study_text``: the study file's text, copied to ``DIR/study.yaml`` (default: the study
    dumped as YAML). ``run_function``: a function or ``module:function`` (default: the
    ``MIUB_RUN_FUNCTION`` environment variable, else ``miub train``'s code path).
    ``executor`` overrides the study's ``executor`` section. ``rebuild``: first rebuild the
    store from the run dirs (:func:`~miub.sweeps.rebuild.rebuild_store`). ``check`` validates
    the whole study first (:func:`~miub.sweeps.checks.check_study`; its warnings become Python
    warnings).
    """
    run_function = run_function or run_function_from_env() or DEFAULT_RUN_FUNCTION
    if check:
        from miub.sweeps.checks import check_study

        for message in check_study(study, run_function=run_function):
            warnings.warn(message, stacklevel=2)
    if isinstance(run_function, str):
        resolve_run_function(run_function)  # a bad one fails here, once, not in every run
    out = prepare_out_dir(out_dir)
    record = StudyRecord(study_hash(study), study.name, study_text or _dump(study))
    with sweep_lock(out):
        rebuilt = rebuild_store(out, STORE_NAME, study, record) if rebuild else None
        verify_store(out, STORE_NAME, CSV_NAME)
        with RunStore(out / STORE_NAME) as store:
            return _run_locked(
                store, study, record, out, run_function, executor, retry_failed,
                allow_changed, observer, rebuilt,
            )  # fmt: skip


def _run_locked(
    store: RunStore,
    study: Study,
    record: StudyRecord,
    out: Path,
    run_function: RunFunction | str,
    executor: ExecutorSettings | None,
    retry_failed: bool,
    allow_changed: bool,
    observer: SweepObserver | None,
    rebuilt: RebuildSummary | None,
) -> SweepSummary:
    changed_from = _refuse_changed_study(store, record, out, allow_changed)
    total, todo = _plan_runs(store, study, record, retry_failed)
    _write_atomically(out / STUDY_NAME, record.yaml)
    summary = SweepSummary(study.name, record.study_hash, out, total)
    summary.skipped = total - len(todo)
    if rebuilt is not None:
        where = f"; the old store is kept as {rebuilt.moved_to}" if rebuilt.moved_to else ""
        summary.notes.append(
            f"rebuilt {STORE_NAME} from runs/: {rebuilt.done} done, {rebuilt.failed} failed,"
            f" {rebuilt.pending} to run{where}"
        )

    export = CsvExport(out / CSV_NAME, study.name)
    earlier = store.earlier_studies_runs(record.study_hash)
    for order, (name, finished) in enumerate(earlier):  # before this study's rows
        export.add(replace(finished, position=order), study=name, group=0)
    if changed_from is not None:
        summary.notes.append(
            f"added study {study.name!r} to {out} (which held {changed_from!r});"
            f" {CSV_NAME} keeps the {len(earlier)} finished runs of earlier studies"
            " (column study) and lists this study's runs after them"
        )
    for finished in store.finished_runs(record.study_hash, exclude={r.key for r in todo}):
        export.add(finished)
    export.rewrite()  # repairs a torn or stale file left by a crash
    if observer is not None:
        observer.started(total, summary.skipped)

    by_key = {run.key: run for run in todo}

    def dispatch(job: RunJob) -> None:
        shutil.rmtree(job.run_dir, ignore_errors=True)  # leftovers of a killed attempt
        job.run_dir.mkdir(parents=True)
        store.mark_running(job.key)

    jobs = (RunJob(run.key, run.config, out / "runs" / run.key) for run in todo)
    chosen = make_executor(executor or study.executor, run_function)
    try:
        for outcome in chosen.execute(jobs, dispatch):
            run = by_key[outcome.key]
            outcome, result_json = _serialise(outcome)
            write_outcome_files(out / "runs" / run.key, outcome, result_json)
            store.record(outcome, result_json)  # one transaction, then a WAL checkpoint
            export.append(_finished(run, outcome, result_json))
            if outcome.status == "done":
                summary.done += 1
            else:
                summary.failed += 1
                summary.failures.append((outcome.key, outcome.error or ""))
            if observer is not None:
                observer.finished(run, outcome)
    finally:  # also on Ctrl-C: leave the file in grid order
        if todo:
            export.rewrite()
    return summary


def _plan_runs(
    store: RunStore, study: Study, record: StudyRecord, retry_failed: bool
) -> tuple[int, list[PlannedRun]]:
    """Register the study (first time: expand its grid, add its runs) and return the number
    of runs and those still to run. A registered study's plan is read back from the store
    (fast resume: no re-expansion, configs parsed only for the runs left)."""
    rerun = ("pending", "running", "failed") if retry_failed else ("pending", "running")
    plan = store.plan(record.study_hash)
    if plan is None:
        expanded = {run.key: run for run in expand_grid(study)}
        store.register_study(record, list(expanded.values()))
        plan = store.plan(record.study_hash) or []
        todo = [expanded[key] for _, key, status in plan if status in rerun]
        return len(plan), todo
    store.touch_study(record.study_hash)
    left = [(position, key) for position, key, status in plan if status in rerun]
    configs = store.configs(key for _, key in left)
    todo = [
        PlannedRun(position, key, TrainConfig.model_validate_json(configs[key]))
        for position, key in left
    ]
    return len(plan), todo


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed and check that it is a writable directory."""
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise MiubUserError(f"out dir {out} is not a writable directory ({reason})") from None
    return out


@contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` so two sweeps never write the same store; the lock
    file says who holds it (``pid host``), and a second sweep's error names them."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the user must not run two sweeps
        yield
        return
    with (out / LOCK_NAME).open("a+", encoding="utf-8") as handle:  # "a+": never truncate it
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().split()
            who = f"pid {holder[0]} on host {holder[1]}" if len(holder) >= 2 else "a process"
            raise MiubUserError(
                f"another miub sweep ({who}) is running in {out}; wait for it or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        handle.flush()
        yield  # the lock goes with the file handle, also when the process is killed


def _refuse_changed_study(
    store: RunStore, record: StudyRecord, out: Path, allow_changed: bool
) -> str | None:
    """Refuse a changed study unless ``allow_changed``; the name of the study it replaces as
    the current one (None when it is the same study or the store is new)."""
    current = store.current_study()
    if current is None or current.study_hash == record.study_hash:
        return None
    if allow_changed:
        return current.name
    changed = _changed_keys(current.yaml, record.yaml)
    raise MiubUserError(
        f"{out} holds results of study {current.name!r} ({current.study_hash}) and this study"
        f" differs ({changed}); use another --out, or --allow-changed to add this study's runs"
        f" ({CSV_NAME} keeps the earlier rows; every result stays keyed by its own config)"
    )


def _changed_keys(old_yaml: str, new_yaml: str) -> str:
    try:
        old = parse_study(yaml.safe_load(old_yaml)).model_dump(mode="json", exclude={"executor"})
        new = parse_study(yaml.safe_load(new_yaml)).model_dump(mode="json", exclude={"executor"})
    except (MiubUserError, yaml.YAMLError):
        return "changed"
    keys = sorted(_flatten(old).items() ^ _flatten(new).items())
    names = sorted({key for key, _ in keys})
    return "changed: " + ", ".join(names) if names else "changed"


def _flatten(data: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = json.dumps(value, sort_keys=True)
    return flat


def _serialise(outcome: RunOutcome) -> tuple[RunOutcome, str | None]:
    if outcome.result is None:
        return outcome, None
    try:
        return outcome, json.dumps(outcome.result)
    except (TypeError, ValueError) as error:
        message = f"ResultNotJSON: the run function's result cannot be stored as JSON ({error})"
        return failed_outcome(outcome.key, message, outcome.wall_s), None


def _finished(run: PlannedRun, outcome: RunOutcome, result_json: str | None) -> FinishedRun:
    """The run as the store now holds it (result read back from its JSON, as on resume)."""
    config = run.config
    result = json.loads(result_json) if result_json is not None else None
    return FinishedRun(
        run.position, run.key, config.model, config.task, config.rank, config.data_size,
        config.seed, outcome.status, result, outcome.wall_s,
    )  # fmt: skip


def _dump(study: Study) -> str:
    return yaml.safe_dump(study.model_dump(mode="json"), sort_keys=False)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
