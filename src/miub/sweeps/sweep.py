"""Run a study into an out dir, resumably: the loop behind ``miub sweep``.

``DIR/`` holds ``study.yaml`` (the study last run here), ``runs.sqlite`` (the store, see
:mod:`miub.sweeps.store`), ``results.csv`` (see :mod:`miub.sweeps.export`) and
``runs/<run_key>/`` (each run's own outputs: adapter, result.json). This process is the only
writer: executors hand outcomes back and each finished run is committed in one transaction.
Finished runs are skipped; runs left ``running`` by a crash are re-run (their directory is
cleared first); ``failed`` runs are re-run only with ``retry_failed``. A study that differs from
the one already in ``DIR`` (by :func:`~miub.sweeps.study.study_hash`) is refused unless
``allow_changed``; then it becomes the current study and ``results.csv`` lists its runs.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from miub.errors import MiubUserError
from miub.sweeps.executors import make_executor
from miub.sweeps.export import CsvExport
from miub.sweeps.grid import PlannedRun, expand_grid
from miub.sweeps.outcome import RunJob, RunOutcome, failed_outcome
from miub.sweeps.runners import DEFAULT_RUNNER, RUNNER_ENV, Runner, resolve_runner
from miub.sweeps.store import FinishedRun, RunStore, StudyRecord
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


class SweepObserver(Protocol):
    """Receives progress events (the CLI shows a rich progress bar)."""

    def started(self, total: int, finished: int) -> None: ...

    def finished(self, run: PlannedRun, outcome: RunOutcome) -> None: ...


def run_sweep(
    study: Study,
    out_dir: str | Path,
    *,
    study_text: str | None = None,
    runner: Runner | str | None = None,
    executor: ExecutorSettings | None = None,
    retry_failed: bool = False,
    allow_changed: bool = False,
    check: bool = True,
    observer: SweepObserver | None = None,
) -> SweepSummary:
    """Run every unfinished run of ``study`` into ``out_dir`` and return a summary.

    ``study_text``: the study file's text, copied to ``DIR/study.yaml`` (default: the study
    dumped as YAML). ``runner``: a function or ``module:function`` (default: the
    ``MIUB_SWEEP_RUNNER`` environment variable, else ``miub train``'s code path).
    ``executor`` overrides the study's ``executor`` section. ``check`` validates models, tasks
    and ranks first (:func:`~miub.sweeps.checks.check_study`; its warnings become Python
    warnings).
    """
    if check:
        from miub.sweeps.checks import check_study

        for message in check_study(study):
            warnings.warn(message, stacklevel=2)
    runner = runner or os.environ.get(RUNNER_ENV) or DEFAULT_RUNNER
    if isinstance(runner, str):
        resolve_runner(runner)  # a bad runner fails here, once, not in every run
    out = prepare_out_dir(out_dir)
    with sweep_lock(out), RunStore(out / STORE_NAME) as store:
        record = StudyRecord(study_hash(study), study.name, study_text or _dump(study))
        _refuse_changed_study(store, record, out, allow_changed)
        total, todo = _plan_runs(store, study, record, retry_failed)
        _write_atomically(out / STUDY_NAME, record.yaml)
        summary = SweepSummary(study.name, record.study_hash, out, total)
        summary.skipped = total - len(todo)

        export = CsvExport(out / CSV_NAME, study.name)
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
        chosen = make_executor(executor or study.executor, runner)
        try:
            for outcome in chosen.execute(jobs, dispatch):
                run = by_key[outcome.key]
                outcome, result_json = _serialise(outcome)
                store.record(outcome, result_json)
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
    """Hold an exclusive lock on ``out`` so two sweeps never write the same store."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; the user must not run two sweeps
        yield
        return
    with (out / LOCK_NAME).open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MiubUserError(f"another miub sweep is running in {out}; wait for it") from None
        yield  # the lock goes with the file handle, also when the process is killed


def _refuse_changed_study(
    store: RunStore, record: StudyRecord, out: Path, allow_changed: bool
) -> None:
    current = store.current_study()
    if current is None or current.study_hash == record.study_hash or allow_changed:
        return
    changed = _changed_keys(current.yaml, record.yaml)
    raise MiubUserError(
        f"{out} holds results of study {current.name!r} ({current.study_hash}) and this study"
        f" differs ({changed}); use another --out, or --allow-changed to add this study's runs"
        " (every result stays keyed by its own config)"
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
        message = f"ResultNotJSON: the runner's result cannot be stored as JSON ({error})"
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
