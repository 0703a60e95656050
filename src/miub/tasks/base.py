"""Multiple-choice tasks: the example format, splits and the shared ``Task`` behaviour.

An example is ``{"context": str, "choices": list[str], "label": int}``, scored lm-eval style
as ``context + " " + choice`` (contexts never end with a space). A task builds three fixed
pools of :class:`Question` (train, validation, test); ``train(n, seed)`` is the first ``n``
of a seeded permutation of the train pool, so ``train(64, s)`` is a prefix of
``train(128, s)`` (nested data sizes for the D axis).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal, get_args

from miub.errors import MiubUserError

SPLITS = ("train", "validation", "test")
EvalSplit = Literal["validation", "test", "validation+test"]  # EvalConfig.split
EVAL_SPLITS: tuple[str, ...] = get_args(EvalSplit)


def eval_pools(split: str) -> tuple[str, ...]:
    """The task pools an evaluation split reads, in order: ``"validation+test"`` ->
    ``("validation", "test")``; a MiubUserError for an unknown split."""
    if split not in EVAL_SPLITS:
        raise MiubUserError(
            f"unknown evaluation split {split!r}; choose one of {', '.join(EVAL_SPLITS)}"
        )
    return tuple(split.split("+"))


@dataclass(frozen=True)
class Question:
    """One multiple-choice item plus what it is about (for hygiene checks and analysis)."""

    context: str
    choices: tuple[str, ...]
    label: int
    subject: str  # the entity (or text topic) the question is about
    facts: tuple[tuple[str, str, str], ...]  # (subject, relation, value) triples it relies on

    def to_example(self) -> dict[str, Any]:
        return {"context": self.context, "choices": list(self.choices), "label": self.label}


def make_choices(
    answer: str, pool: tuple[str, ...], n_choices: int, key: str
) -> tuple[tuple[str, ...], int]:
    """``n_choices`` distinct options: the answer plus distractors from ``pool``, in an order
    fixed by ``key`` (so a question's choices do not depend on which split or seed asks)."""
    distractors = sorted(set(pool) - {answer})
    if n_choices - 1 > len(distractors):
        raise MiubUserError(
            f"num_choices={n_choices} too large: only {len(distractors) + 1} values"
        )
    rng = random.Random(key)
    options = [*rng.sample(distractors, n_choices - 1), answer]
    rng.shuffle(options)
    return tuple(options), options.index(answer)


class Task(ABC):
    """A multiple-choice task with fixed train/validation/test pools.

    Subclasses set ``name`` and ``description`` and implement :meth:`build_split`.
    """

    name: str = ""
    description: str = ""

    def __init__(self, num_choices: int = 4) -> None:
        if num_choices < 2:
            raise MiubUserError(f"num_choices must be at least 2, got {num_choices}")
        self.num_choices = num_choices

    @property
    def options(self) -> dict[str, Any]:
        """The task's options (what ``miub.tasks.get(name, **options)`` was called with)."""
        return {"num_choices": self.num_choices}

    @abstractmethod
    def build_split(self, split: str) -> list[Question]:
        """All questions of ``split`` in a fixed order."""

    def _pool(self, split: str) -> list[Question]:
        # built on first use, one split at a time (a hub benchmark downloads only what it needs)
        pools: dict[str, list[Question]] = self.__dict__.setdefault("_pools", {})
        if split not in pools:
            pools[split] = self.build_split(split)
        return pools[split]

    def questions(self, split: str) -> list[Question]:
        """The full pool of ``split`` ("train", "validation" or "test") in its fixed order."""
        if split not in SPLITS:
            raise MiubUserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return list(self._pool(split))

    def train(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        """``n`` training examples: the first ``n`` of the train pool permuted by ``seed``."""
        pool = self._pool("train")
        if not 1 <= n <= len(pool):
            raise MiubUserError(
                f"task {self.name!r} has {len(pool)} training examples; asked for n={n}"
            )
        order = list(range(len(pool)))
        random.Random(f"{self.name}-train-{seed}").shuffle(order)
        return [pool[i].to_example() for i in order[:n]]

    def validation(self, n: int | None = None) -> list[dict[str, Any]]:
        """The first ``n`` validation examples (all when ``n`` is None)."""
        return [q.to_example() for q in self._pool("validation")[:n]]

    def evaluation(self, split: str = "validation", n: int | None = None) -> list[dict[str, Any]]:
        """The first ``n`` examples (all when None) of an evaluation split: ``"validation"``,
        ``"test"`` or ``"validation+test"`` (the validation pool, then the test pool)."""
        questions = [q for name in eval_pools(split) for q in self._pool(name)]
        return [q.to_example() for q in questions[:n]]

    def test(self, n: int | None = None) -> list[dict[str, Any]]:
        """The first ``n`` test examples (all when ``n`` is None)."""
        return [q.to_example() for q in self._pool("test")[:n]]

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({options})"
