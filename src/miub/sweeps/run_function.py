"""The run function: what performs one run, ``RunFunction = (TrainConfig, run_dir) -> result``.

(Not to be confused with :mod:`miub.runners`, the recipe layer.) The default run function is
:func:`train_run`, the code path of ``miub train``
(:func:`miub.training.run_training`, imported lazily). Any other function with the same
signature can stand in — a cluster smoke test, :func:`miub.testing.synthetic_sweep.synthetic_run`,
a user's own training code — named as ``module:function`` (``--run-function`` on the command line
or the ``MIUB_RUN_FUNCTION`` environment variable). A run function must be deterministic given its
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

RunFunction = Callable[[TrainConfig, Path], dict[str, Any]]

DEFAULT_RUN_FUNCTION = "miub.sweeps.run_function:train_run"
RUN_FUNCTION_ENV = "MIUB_RUN_FUNCTION"
LEGACY_RUN_FUNCTION_ENV = "MIUB_SWEEP_RUNNER"  # older name, still read


def run_function_from_env() -> str | None:
    """The ``module:function`` named by the environment, if any."""
    import os

    return os.environ.get(RUN_FUNCTION_ENV) or os.environ.get(LEGACY_RUN_FUNCTION_ENV) or None


def train_run(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Train and evaluate one LoRA run exactly as ``miub train`` does; outputs go to run_dir."""
    from miub.training import run_training  # lazy: torch/transformers load in the worker only

    return run_training(config, run_dir, progress=False)


@cache
def resolve_run_function(spec: str) -> RunFunction:
    """Import ``module:function`` and return the function (cached per process)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise MiubUserError(f"run function {spec!r} must be written module:function")
    try:
        module = import_module(module_name)
    except ImportError as error:
        raise MiubUserError(
            f"run function {spec!r}: cannot import {module_name} ({error})"
        ) from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise MiubUserError(f"run function {spec!r}: {module_name} has no function {attribute}")
    return function  # type: ignore[no-any-return]
