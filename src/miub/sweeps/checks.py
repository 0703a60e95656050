"""Checks of a study against this installation: models, tasks, estimators, ranks.

:func:`check_study` raises one :class:`~miub.errors.MiubUserError` naming every problem
(unknown zoo model, missing model directory, unknown task or estimator, a rank larger than the
smallest dimension of a LoRA target module, a data size larger than a task's training pool) and returns warnings for what cannot be checked
here (a Hugging Face id that is not in the local cache, when a stand-in run function needs no
model). With the default run function (training) a hub id missing from the local cache, a
device this machine does not have and an unknown dtype are problems too: the sweep fails
once, before its first run, instead of in every run. Model shapes come from the model's
``config.json`` (zoo models: the shipped file, else the zoo's spec); no weights are loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from miub.errors import MiubUserError
from miub.sweeps.grid import grid_points
from miub.sweeps.study import Study
from miub.tasks.base import eval_pools

ZOO_PREFIX = "zoo:"


def check_study(study: Study, run_function: object = None) -> list[str]:
    """Raise a MiubUserError listing every problem; return warnings (possibly empty).
    ``run_function``: what will perform the runs; the default (training,
    :data:`~miub.sweeps.run_function.DEFAULT_RUN_FUNCTION`) needs the models loadable here,
    offline, and the device present; None (unknown) makes those warnings only."""
    from miub.sweeps.run_function import DEFAULT_RUN_FUNCTION

    trains = run_function == DEFAULT_RUN_FUNCTION
    problems: list[str] = []
    warnings: list[str] = []
    shapes: dict[str, dict[str, Any]] = {}
    model_problems: dict[str, list[str]] = {}  # message → keys (one line for a shared cause)
    for index, model in enumerate(study.grid.models):
        try:
            config = read_model_config(model)
        except LookupError as error:
            model_problems.setdefault(str(error), []).append(f"grid.models[{index}]")
            continue
        if config is None and trains:
            model_problems.setdefault(
                f"model {model!r} is not in the local Hugging Face cache and miub never"
                " downloads; download it first (huggingface-cli download) or pass a local dir",
                [],
            ).append(f"grid.models[{index}]")
        elif config is None:
            warnings.append(
                f"model {model!r} is not in the local Hugging Face cache; rank limits unchecked"
            )
        else:
            shapes[model] = config
    problems += [f"{', '.join(keys)}: {message}" for message, keys in model_problems.items()]
    task_names = _task_names()
    problems += _check_names("grid.tasks", study.grid.tasks, task_names)
    if task_names is not None:
        tasks = [task for task in study.grid.tasks if task in task_names]
        problems += _check_task_sizes(study, tasks, warnings)
    problems += _check_names("estimators", study.estimators, _estimator_names())
    problems += _check_ranks(study, shapes)
    if trains:
        problems += _check_device(study.training.device, study.training.dtype)
    if problems:
        raise MiubUserError("; ".join(problems))
    return warnings


def read_model_config(spec: str) -> dict[str, Any] | None:
    """The ``config.json`` of ``zoo:NAME``, a model dir or a cached hub id; None if the hub id
    is not cached. LookupError (with the reason) for unknown zoo names and missing dirs."""
    if spec.startswith(ZOO_PREFIX):
        return _zoo_config(spec[len(ZOO_PREFIX) :])
    path = Path(spec).expanduser()
    if spec.startswith((".", "/", "~")) or path.exists():
        if not (path / "config.json").is_file():
            raise LookupError(f"{spec} is not a model directory (no config.json)")
        return _read_json(path / "config.json")
    if "/" not in spec and spec in _zoo_names():
        raise LookupError(f"{spec!r} is a zoo model; write zoo:{spec}")
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    cached = try_to_load_from_cache(spec, "config.json")
    return _read_json(Path(cached)) if isinstance(cached, str) else None


def max_lora_rank(config: dict[str, Any], target_modules: list[str]) -> tuple[int, str] | None:
    """``(dimension, module)``: the smallest ``min(in, out)`` over the targeted Llama-style
    modules (a LoRA rank above it adds nothing), or None if the config has no sizes."""
    hidden = config.get("hidden_size") or config.get("n_embd") or config.get("d_model")
    if not hidden:
        return None
    inner = config.get("intermediate_size") or config.get("n_inner") or 4 * hidden
    heads = config.get("num_attention_heads") or 1
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    shapes = {  # (in, out) of each Linear
        "q_proj": (hidden, heads * head_dim),
        "k_proj": (hidden, kv_heads * head_dim),
        "v_proj": (hidden, kv_heads * head_dim),
        "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, inner),
        "up_proj": (hidden, inner),
        "down_proj": (inner, hidden),
    }
    known = [(min(shapes[name]), name) for name in target_modules if name in shapes]
    return min(known) if known else (min(hidden, inner), "hidden/intermediate size")


def _check_ranks(study: Study, shapes: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    pairs = sorted({(model, rank) for model, _, rank, _, _ in grid_points(study)})
    for model, rank in pairs:
        limit = max_lora_rank(shapes[model], study.lora.target_modules) if model in shapes else None
        if limit is not None and rank > limit[0]:
            problems.append(
                f"grid.ranks: rank {rank} exceeds {limit[0]}, the smallest LoRA target"
                f" dimension of {model} ({limit[1]})"
            )
    return problems


def _check_device(device: str, dtype: str) -> list[str]:
    """The study's device exists on this machine and its dtype is one miub knows."""
    problems = []
    if dtype not in ("float32", "bfloat16", "float16"):
        problems.append(
            f"training.dtype: unknown dtype {dtype!r}; use float32, bfloat16 or float16"
        )
    try:
        from miub.models.loading import resolve_device

        resolve_device(device)
    except MiubUserError as error:
        problems.append(f"training.device: {error}")
    except ImportError:
        pass
    return problems


def _check_task_sizes(study: Study, tasks: list[str], warnings: list[str]) -> list[str]:
    """Data sizes within each task's training pool; eval sizes within its validation pool."""
    from miub import tasks as registry

    problems = []
    options = study.training.task_options
    largest = max(study.grid.data_sizes)
    for name in tasks:
        try:
            task = registry.get(name, **options)
        except MiubUserError as error:
            problems.append(f"training.task_options: {error}")
            continue
        sizes = _split_sizes(task, study.eval.split)
        if sizes is None:
            warnings.append(f"task {name!r}: data not available here; data sizes unchecked")
            continue
        n_train, n_validation = sizes
        if largest > n_train:
            problems.append(
                f"grid.data_sizes: {largest} exceeds the {n_train} training examples of task"
                f" {name!r}"
            )
        if study.eval.eval_examples > n_validation:
            warnings.append(
                f"eval.eval_examples: task {name!r} has {n_validation} {study.eval.split}"
                f" examples; all {n_validation} are used, not {study.eval.eval_examples}"
            )
    return problems


def _split_sizes(task: Any, eval_split: str = "validation") -> tuple[int, int] | None:
    """(train, evaluation) pool sizes, the evaluation pool being ``eval_split``
    ("validation", "test" or "validation+test"): published sizes of a hub benchmark (nothing
    is downloaded), else the loaded pools; None when the task's data cannot be loaded here."""
    pools = eval_pools(eval_split)
    known = task.known_sizes() if hasattr(task, "known_sizes") else None
    if known:
        return known["train"], sum(known[pool] for pool in pools)
    try:
        return len(task.questions("train")), sum(len(task.questions(pool)) for pool in pools)
    except MiubUserError:
        return None


def _check_names(key: str, values: list[str], known: list[str] | None) -> list[str]:
    if known is None:  # that part of miub is not installed: nothing to check against
        return []
    return [
        f"{key}[{index}]: unknown name {value!r} (known: {', '.join(known)})"
        for index, value in enumerate(values)
        if value not in known
    ]


def _zoo_config(name: str) -> dict[str, Any]:
    try:
        from miub import zoo

        folder = zoo.path(name)  # MiubUserError: unknown name, or the zoo is not built
    except (ImportError, MiubUserError) as error:
        raise LookupError(str(error)) from None
    if not (folder / "config.json").is_file():
        raise LookupError(f"zoo model {name!r} has no config.json; run `miub zoo verify`")
    return _read_json(folder / "config.json")


def _zoo_names() -> list[str]:
    try:
        from miub import zoo

        return list(zoo.names())
    except (ImportError, MiubUserError):
        return []


def _task_names() -> list[str] | None:
    try:
        from miub import tasks

        return list(tasks.names())
    except (ImportError, AttributeError):
        return None


def _estimator_names() -> list[str] | None:
    try:
        from miub import estimators

        return [spec.name for spec in estimators.list_estimators()]
    except (ImportError, AttributeError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))
