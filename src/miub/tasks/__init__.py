"""Downstream multiple-choice tasks and the pretraining corpus of the built-in world.

``names()`` lists the tasks; ``get(name, **options)`` builds one. See
:mod:`miub.tasks.knowledge` (recall, novel, compose) and :mod:`miub.tasks.cloze`.
"""

from __future__ import annotations

from miub.tasks.base import Question, Task
from miub.tasks.corpus import Corpus, build_corpus, default_corpus
from miub.tasks.registry import get, names
from miub.tasks.world import World, build_world, default_world

__all__ = [
    "Corpus",
    "Question",
    "Task",
    "World",
    "build_corpus",
    "build_world",
    "default_corpus",
    "default_world",
    "get",
    "names",
]
