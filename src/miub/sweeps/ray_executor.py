"""The Ray executor: one Ray task per run, outcomes collected with ``ray.wait`` by the writer.

``executor.address`` set → ``ray.init(address=...)`` joins that cluster; unset → a local Ray
with ``workers × num_cpus`` CPUs and no dashboard. Each run is a task with the study's
``resources`` (``num_cpus``, ``num_gpus``), so ``num_gpus: 1`` gives every run its own GPU on
a cluster. At most ``workers`` tasks are in flight: on a cluster set ``workers`` to the number
of runs it can hold at once. Run outputs (``DIR/runs/<key>/``) are written where the task runs,
so on a multi-node cluster ``DIR`` should be on shared storage; results always come back to
the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

from miub.sweeps.outcome import Dispatch, RunJob, RunOutcome, execute_run, failed_outcome
from miub.sweeps.run_function import RunFunction
from miub.sweeps.study import ExecutorSettings


class RayExecutor:
    """Runs jobs as Ray tasks (see the module docstring)."""

    def __init__(self, runner: RunFunction | str, settings: ExecutorSettings) -> None:
        self.runner = runner
        self.settings = settings

    def _start_ray(self) -> bool:
        """Connect to or start Ray; True when this call started it (and must shut it down)."""
        import ray

        if ray.is_initialized():
            return False
        settings = self.settings
        if settings.address:
            ray.init(address=settings.address, log_to_driver=False)
        else:
            cpus = math.ceil(settings.workers * settings.resources.num_cpus)
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        return True

    def execute(self, jobs: Iterable[RunJob], on_dispatch: Dispatch) -> Iterator[RunOutcome]:
        import ray

        started = self._start_ray()
        resources = self.settings.resources
        threads = max(1, int(resources.num_cpus))
        remote_run = ray.remote(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus)(
            execute_run
        )
        pending = iter(jobs)
        in_flight: dict[Any, RunJob] = {}
        try:
            while True:
                while len(in_flight) < self.settings.workers:
                    job = next(pending, None)
                    if job is None:
                        break
                    on_dispatch(job)
                    in_flight[
                        remote_run.options(max_retries=0).remote(self.runner, job, threads)
                    ] = job
                if not in_flight:
                    return
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for reference in ready:
                    job = in_flight.pop(reference)
                    try:
                        outcome = ray.get(reference)
                    except Exception as error:  # the worker died, or Ray could not run it
                        outcome = failed_outcome(job.key, _describe(error), trace=str(error))
                    yield outcome
        finally:
            for reference in in_flight:
                ray.cancel(reference, force=True)
            if started:
                ray.shutdown()


def _describe(error: Exception) -> str:
    """One line for a Ray error: the underlying cause, without Ray's ANSI-coloured header."""
    cause = getattr(error, "cause", None) or error
    lines = [line for line in _ANSI.sub("", str(cause)).splitlines() if line.strip()]
    reason = lines[-1].strip() if lines else ""
    return f"{type(cause).__name__}: {reason}"[:500]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
