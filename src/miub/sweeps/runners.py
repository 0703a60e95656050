"""Runners: the function that performs one run, ``Runner = (TrainConfig, run_dir) -> result``.

The default runner is :func:`train_run`, the code path of ``miub train``
(:func:`miub.training.run_training`, imported lazily). Any other function with the same
signature can stand in — a cluster smoke test, :func:`miub.sweeps.synthetic.synthetic_run`,
a user's own training code — named as ``module:function`` (``--runner`` on the command line or
the ``MIUB_SWEEP_RUNNER`` environment variable). A runner must be deterministic given its
config (seeds included) for a sweep to give the same numbers under every executor, and it
returns the run's result dict (``metrics``, ``n_params``, ...; see ``result.json``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

from miub.errors import MiubUserError
from miub.training.config import TrainConfig

Runner = Callable[[TrainConfig, Path], dict[str, Any]]

DEFAULT_RUNNER = "miub.sweeps.runners:train_run"
RUNNER_ENV = "MIUB_SWEEP_RUNNER"


def train_run(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Train and evaluate one LoRA run exactly as ``miub train`` does; outputs go to run_dir."""
    from miub.training import run_training  # lazy: torch/transformers load in the worker only

    return run_training(config, run_dir, progress=False)


@cache
def resolve_runner(spec: str) -> Runner:
    """Import ``module:function`` and return the function (cached per process)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise MiubUserError(f"runner {spec!r} must be written module:function")
    try:
        module = import_module(module_name)
    except ImportError as error:
        raise MiubUserError(f"runner {spec!r}: cannot import {module_name} ({error})") from None
    runner = getattr(module, attribute, None)
    if not callable(runner):
        raise MiubUserError(f"runner {spec!r}: {module_name} has no function {attribute}")
    return runner  # type: ignore[no-any-return]
