"""One run handed to an executor (:class:`RunJob`), what comes back (:class:`RunOutcome`), the
:class:`Executor` protocol every executor implements, and the function every executor calls in
its worker (:func:`execute_run`). Both executor modules import their types from here (no
cycle between :mod:`~miub.sweeps.executors` and :mod:`~miub.sweeps.ray_executor`).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from miub.sweeps.run_function import RunFunction, resolve_run_function
from miub.training.config import TrainConfig

OutcomeStatus = Literal["done", "failed"]
"""How a run ended; the store's ``runs.status`` adds ``pending`` and ``running``
(:data:`miub.sweeps.store.StoreStatus`)."""


@dataclass(frozen=True)
class RunJob:
    """A run to execute: key, config and its own output directory ``DIR/runs/<key>/``."""

    key: str
    config: TrainConfig
    run_dir: Path


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: ``status`` is ``done`` (with ``result``) or ``failed`` (with ``error``,
    one line, and the full ``traceback``). ``wall_s``: seconds spent in the runner."""

    key: str
    status: OutcomeStatus
    result: dict[str, Any] | None
    error: str | None
    traceback: str | None
    wall_s: float


Dispatch = Callable[[RunJob], None]


class Executor(Protocol):
    """Runs jobs and yields their outcomes as they finish (see :mod:`miub.sweeps.executors`)."""

    def execute(self, jobs: Iterable[RunJob], on_dispatch: Dispatch) -> Iterator[RunOutcome]: ...


def failed_outcome(
    key: str, error: str, wall_s: float = 0.0, trace: str | None = None
) -> RunOutcome:
    """A ``failed`` outcome for a run whose worker could not report one itself."""
    return RunOutcome(key, "failed", None, error, trace or error, wall_s)


def execute_run(runner: RunFunction | str, job: RunJob, num_threads: int) -> RunOutcome:
    """Run ``job`` with the run function ``runner`` (a function or ``module:function``) using ``num_threads``
    CPU threads; any exception becomes a ``failed`` outcome instead of propagating."""
    _limit_threads(num_threads)
    start = time.perf_counter()
    try:
        function = resolve_run_function(runner) if isinstance(runner, str) else runner
        result = function(job.config, job.run_dir)
        if not isinstance(result, dict):
            raise TypeError(f"run function returned {type(result).__name__}, expected a dict")
        bad = non_finite_metrics(result)
        if bad:
            message = (
                f"NonFiniteMetrics: {', '.join(bad)}; the run diverged or its settings are"
                " degenerate (lower learning_rate, check alpha)"
            )
            return RunOutcome(
                job.key, "failed", None, message, message, time.perf_counter() - start
            )
    except Exception as error:
        lines = str(error).strip().splitlines()
        message = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
        return RunOutcome(
            job.key, "failed", None, message, traceback.format_exc(), time.perf_counter() - start
        )
    return RunOutcome(job.key, "done", result, None, None, time.perf_counter() - start)


def non_finite_metrics(result: dict[str, Any]) -> list[str]:
    """``name=value`` of the registered metrics (not their stderrs) in ``result["metrics"]``
    that are NaN or infinite; a missing (None) CE counts too (result.json writes NaN as null)."""
    import math

    from miub.metrics import is_metric

    metrics = result.get("metrics")
    if not isinstance(metrics, dict):
        return []
    bad = []
    for name, value in metrics.items():
        if not is_metric(name):
            continue
        if (isinstance(value, float) and not math.isfinite(value)) or (
            value is None and name == "ce"
        ):
            bad.append(f"{name}={value}")
    return bad


def _limit_threads(num_threads: int) -> None:
    """Use the same number of CPU threads under every executor (same float reductions)."""
    os.environ["OMP_NUM_THREADS"] = str(num_threads)  # read by torch on first import
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != num_threads:
        torch.set_num_threads(num_threads)
