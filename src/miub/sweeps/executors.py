"""Executors run jobs somewhere and hand their outcomes back to the one writer (the caller).

Every executor keeps at most ``workers`` runs in flight, calls ``on_dispatch(job)`` just before
handing a job over (the store marks it ``running``), and yields outcomes as runs finish, in
completion order. Runs execute :func:`~miub.sweeps.outcome.execute_run`, so a runner's
exception always comes back as a ``failed`` outcome; a worker that dies (segfault, OOM kill)
fails the runs it may have held, and the sweep goes on.

Every run uses ``resources.num_cpus`` CPU threads under every executor (the same float
reductions, hence the same numbers). ``resources.num_gpus`` is enforced by Ray only; locally
the run config's ``device`` decides.

* ``local`` with 1 worker: in this process, one run after another.
* ``local`` with N workers: N spawned processes (``concurrent.futures``, spawn context).
* ``ray``: one Ray task per run (:mod:`miub.sweeps.ray_executor`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from miub.sweeps.outcome import (
    Dispatch,
    Executor,
    RunJob,
    RunOutcome,
    execute_run,
    failed_outcome,
)
from miub.sweeps.run_function import RunFunction
from miub.sweeps.study import ExecutorSettings


class SequentialExecutor:
    """Runs each job in this process, one after another."""

    def __init__(self, runner: RunFunction | str, num_threads: int = 1) -> None:
        self.runner = runner
        self.num_threads = num_threads

    def execute(self, jobs: Iterable[RunJob], on_dispatch: Dispatch) -> Iterator[RunOutcome]:
        for job in jobs:
            on_dispatch(job)
            yield execute_run(self.runner, job, self.num_threads)


class ProcessExecutor:
    """Runs jobs in ``workers`` spawned processes. ``runner`` must be picklable (a module-level
    function or a ``module:function`` string)."""

    def __init__(self, runner: RunFunction | str, workers: int, num_threads: int = 1) -> None:
        self.runner = runner
        self.workers = workers
        self.num_threads = num_threads

    def _pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # no fork: torch/threads are not fork-safe
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )

    def execute(self, jobs: Iterable[RunJob], on_dispatch: Dispatch) -> Iterator[RunOutcome]:
        pending = iter(jobs)
        in_flight: dict[Future[RunOutcome], RunJob] = {}
        pool = self._pool()
        try:
            while True:
                while len(in_flight) < self.workers and (job := next(pending, None)) is not None:
                    on_dispatch(job)
                    try:
                        future = pool.submit(execute_run, self.runner, job, self.num_threads)
                    except BrokenProcessPool:  # a worker died after the last wait() returned
                        yield from _drain_broken(in_flight)
                        pool.shutdown(wait=False, cancel_futures=True)
                        pool = self._pool()
                        future = pool.submit(execute_run, self.runner, job, self.num_threads)
                    in_flight[future] = job
                if not in_flight:
                    return
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                broken = False
                for future in finished:
                    job = in_flight.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        broken = True
                        yield failed_outcome(job.key, _DIED)
                if broken:  # the pool is unusable: fail what it held, start a new one
                    for job in in_flight.values():
                        yield failed_outcome(job.key, _DIED)
                    in_flight.clear()
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def exit_with_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Worker initializer: end this process soon after the sweep's process dies (kill -9), so
    no orphan keeps running a run that the resumed sweep will run again."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(interval_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


_DIED = "WorkerDied: a worker process died while this run was in flight (crash or out of memory)"


def make_executor(settings: ExecutorSettings, runner: RunFunction | str) -> Executor:
    """The executor described by a study's ``executor`` section."""
    threads = max(1, int(settings.resources.num_cpus))
    if settings.kind == "ray":
        from miub.sweeps.ray_executor import RayExecutor  # ray is imported only when used

        return RayExecutor(runner, settings)
    if settings.workers == 1:
        return SequentialExecutor(runner, threads)
    return ProcessExecutor(runner, settings.workers, threads)


def _drain_broken(in_flight: dict[Future[RunOutcome], RunJob]) -> Iterator[RunOutcome]:
    """Outcomes of the jobs a broken pool held: finished results stand, the rest failed."""
    for future, job in in_flight.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            yield future.result()
        else:
            yield failed_outcome(job.key, _DIED)
    in_flight.clear()
