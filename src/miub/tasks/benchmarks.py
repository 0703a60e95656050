"""The commonsense benchmarks, worded and labelled exactly as lm-evaluation-harness does.

Each benchmark turns one hub row into a :class:`~miub.tasks.base.Question` with lm-eval's
zero-shot ``doc_to_text`` / ``doc_to_choice`` / ``doc_to_target`` (lm-eval 0.4.x task yamls;
scored as ``context + " " + choice``, lm-eval's default ``target_delimiter``):

============  ==========================  =====================================================
task          hub id (config)             context
============  ==========================  =====================================================
boolq         aps/super_glue (boolq)      ``{passage}\\nQuestion: {question}?\\nAnswer:``; no/yes
piqa          baber/piqa                  ``Question: {goal}\\nAnswer:``; sol1/sol2
siqa          lighteval/siqa              ``Q: {context} {question}\\nA:``; label "1".."3" → 0..2
hellaswag     Rowan/hellaswag             ``preprocess(activity_label: ctx_a Ctx_b)``
winogrande    allenai/winogrande (xl)     partial scoring, see :class:`WinoGrandeTask`
arc-easy      allenai/ai2_arc (ARC-Easy)  ``Question: {question}\\nAnswer:``; answerKey
arc-challenge allenai/ai2_arc (ARC-Chal.) as arc-easy
openbookqa    allenai/openbookqa (main)   ``{question_stem}``; answerKey (left-stripped)
============  ==========================  =====================================================

Splits: ``train`` and ``validation`` are the hub's; ``test`` is the hub's test split where it
is labelled (ARC, OpenBookQA) and otherwise the validation split, which is what lm-eval
reports for those tasks (so there ``validation`` and ``test`` coincide).
Option ``data_dir``: load pre-downloaded files instead of the hub (see :mod:`hub_data`), from
``data_dir/<task name>/`` when that folder exists (one ``data_dir`` for the whole suite), else
from ``data_dir`` itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

from miub.errors import MiubUserError
from miub.tasks.base import Question, Task
from miub.tasks.hub_data import Row, load_rows

PARTIAL_CONTEXTS = "partial_contexts"  # example key that flags partial scoring (WinoGrande)


@dataclass(frozen=True)
class PartialQuestion(Question):
    """A question scored lm-eval's "partial" way: option ``k`` is the context
    ``partial_contexts[k]`` and every option shares the ``continuation`` that is scored.

    ``context`` / ``choices`` hold the same sentence split before the blank, so training and
    full-sentence scoring (:func:`~miub.evaluation.evaluate_multiple_choice`) still work;
    :func:`~miub.evaluation.evaluate_partial_multiple_choice` scores the lm-eval way.
    """

    partial_contexts: tuple[str, ...] = ()
    continuation: str = ""

    def to_example(self) -> dict[str, Any]:
        example = super().to_example()
        example[PARTIAL_CONTEXTS] = list(self.partial_contexts)
        example["continuation"] = self.continuation
        return example


def _question(context: str, choices: list[str], label: int) -> Question:
    return Question(context, tuple(choices), label, subject="", facts=())


def hellaswag_preprocess(text: str) -> str:
    """lm-eval's ``hellaswag.utils.preprocess``: strip, " [title]" → ". ", drop ``[...]``."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub("\\[.*?\\]", "", text)
    return text.replace("  ", " ")


def boolq(row: Row) -> Question:
    context = f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:"
    return _question(context, ["no", "yes"], int(row["label"]))


def piqa(row: Row) -> Question:
    context = f"Question: {row['goal']}\nAnswer:"
    return _question(context, [row["sol1"], row["sol2"]], int(row["label"]))


def siqa(row: Row) -> Question:
    context = f"Q: {row['context']} {row['question']}\nA:"
    choices = [row["answerA"], row["answerB"], row["answerC"]]
    return _question(context, choices, int(row["label"]) - 1)


def hellaswag(row: Row) -> Question:
    context = row["ctx_a"] + " " + row["ctx_b"].capitalize()
    query = hellaswag_preprocess(row["activity_label"] + ": " + context)
    choices = [hellaswag_preprocess(ending) for ending in row["endings"]]
    return _question(query, choices, int(row["label"]))


def arc(row: Row) -> Question:
    context = f"Question: {row['question']}\nAnswer:"
    choices = row["choices"]
    return _question(context, list(choices["text"]), choices["label"].index(row["answerKey"]))


def openbookqa(row: Row) -> Question:
    choices = row["choices"]
    label = choices["label"].index(row["answerKey"].lstrip())
    return _question(row["question_stem"], list(choices["text"]), label)


def winogrande(row: Row) -> PartialQuestion:
    """lm-eval's ``preprocess_winogrande``: contexts ``sentence[:blank] + option``, shared
    continuation ``sentence[blank + 1:].strip()``, label ``{"1": 0, "2": 1}[answer]``."""
    sentence, options = row["sentence"], [row["option1"], row["option2"]]
    blank = sentence.index("_")
    continuation = sentence[blank + 1 :].strip()
    label = {"1": 0, "2": 1}[str(row["answer"])]
    before = sentence[:blank].rstrip()
    full_choices = tuple(option + sentence[blank + 1 :] for option in options)
    return PartialQuestion(
        before,
        full_choices,
        label,
        subject="",
        facts=(),
        partial_contexts=tuple(sentence[:blank] + option for option in options),
        continuation=continuation,
    )


class BenchmarkTask(Task):
    """A hub benchmark; subclasses set the hub id, config, split map and row format."""

    hub_id: ClassVar[str] = ""
    hub_config: ClassVar[str | None] = None
    hub_splits: ClassVar[Mapping[str, str]] = {}
    row_format: ClassVar[Callable[[Row], Question]]
    hub_sizes: ClassVar[Mapping[str, int]] = {}  # rows per task split (published sizes)

    def __init__(self, data_dir: str | None = None) -> None:
        super().__init__(num_choices=2)
        self.data_dir = data_dir

    def known_sizes(self) -> Mapping[str, int] | None:
        """Split sizes of the hub dataset without loading it (None with ``data_dir``)."""
        return None if self.data_dir is not None else self.hub_sizes

    @property
    def options(self) -> dict[str, Any]:
        return {"data_dir": self.data_dir}

    def build_split(self, split: str) -> list[Question]:
        data_dir = self.data_dir
        if data_dir is not None and (Path(data_dir) / self.name).is_dir():
            data_dir = str(Path(data_dir) / self.name)  # one folder for the whole suite
        rows = load_rows(self.hub_id, self.hub_config, self.hub_splits[split], data_dir)
        try:
            return [type(self).row_format(row) for row in rows]
        except (KeyError, ValueError, TypeError) as error:
            raise MiubUserError(
                f"{self.name}: a {split} row does not have the {self.hub_id} schema "
                f"({type(error).__name__}: {error})"
            ) from None


_NO_LABELLED_TEST = {"train": "train", "validation": "validation", "test": "validation"}


def _benchmark(
    name: str,
    hub_id: str,
    config: str | None,
    row_format: Callable[[Row], Question],
    sizes: tuple[int, int, int],
    splits: dict[str, str] = _NO_LABELLED_TEST,
) -> type[BenchmarkTask]:
    attributes = {
        "name": name,
        "description": f"{hub_id} ({config or 'default'}), lm-evaluation-harness format",
        "hub_id": hub_id,
        "hub_config": config,
        "hub_splits": dict(splits),
        "row_format": staticmethod(row_format),
        "hub_sizes": dict(zip(("train", "validation", "test"), sizes, strict=True)),
    }
    class_name = "".join(part.capitalize() for part in name.split("-")) + "Task"
    return cast(type[BenchmarkTask], type(class_name, (BenchmarkTask,), attributes))


_HUB_TEST = {"train": "train", "validation": "validation", "test": "test"}

# sizes: (train, validation, test) rows of the task splits, as published on the hub
BoolQTask = _benchmark("boolq", "aps/super_glue", "boolq", boolq, (9427, 3270, 3270))
PIQATask = _benchmark("piqa", "baber/piqa", None, piqa, (16113, 1838, 1838))
SIQATask = _benchmark("siqa", "lighteval/siqa", None, siqa, (33410, 1954, 1954))
HellaSwagTask = _benchmark("hellaswag", "Rowan/hellaswag", None, hellaswag, (39905, 10042, 10042))
WinoGrandeTask = _benchmark(
    "winogrande", "allenai/winogrande", "winogrande_xl", winogrande, (40398, 1267, 1267)
)
ARCEasyTask = _benchmark(
    "arc-easy", "allenai/ai2_arc", "ARC-Easy", arc, (2251, 570, 2376), _HUB_TEST
)
ARCChallengeTask = _benchmark(
    "arc-challenge", "allenai/ai2_arc", "ARC-Challenge", arc, (1119, 299, 1172), _HUB_TEST
)
OpenBookQATask = _benchmark(
    "openbookqa", "allenai/openbookqa", "main", openbookqa, (4957, 500, 500), _HUB_TEST
)

BENCHMARKS: tuple[type[BenchmarkTask], ...] = (
    BoolQTask,
    PIQATask,
    SIQATask,
    HellaSwagTask,
    WinoGrandeTask,
    ARCEasyTask,
    ARCChallengeTask,
    OpenBookQATask,
)
