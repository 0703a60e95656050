"""The task registry: tasks found by name (``miub.tasks.get("recall", num_choices=4)``)."""

from __future__ import annotations

from typing import Any

from miub.errors import MiubUserError
from miub.tasks.base import Task
from miub.tasks.benchmarks import BENCHMARKS
from miub.tasks.cloze import ClozeTask
from miub.tasks.commonsense import Commonsense170kTask
from miub.tasks.knowledge import ComposeTask, NovelTask, RecallTask
from miub.tasks.real import ContinuationTask, FactsTask

_WORLD_TASKS: list[type[Task]] = [RecallTask, NovelTask, ComposeTask, ClozeTask]
_REAL_MODEL_TASKS: list[type[Task]] = [FactsTask, ContinuationTask]
_ALL_TASKS: list[type[Task]] = [*_WORLD_TASKS, *_REAL_MODEL_TASKS, *BENCHMARKS, Commonsense170kTask]
TASKS: dict[str, type[Task]] = {task.name: task for task in _ALL_TASKS}


def names() -> list[str]:
    """Registered task names."""
    return list(TASKS)


def get(name: str, **options: Any) -> Task:
    """The task ``name`` built with ``options`` (e.g. ``num_choices``, ``complexity``)."""
    if name not in TASKS:
        raise MiubUserError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    try:
        return TASKS[name](**options)
    except TypeError as error:
        raise MiubUserError(f"bad options for task {name!r}: {error}") from error
