"""Fine-tuning data: tasks, rendering multiple-choice examples as training sequences, batching.

A training example ``{"context": c, "choices": [...], "label": y}`` is the sequence
``c + " " + choices[y]`` split into context and answer tokens exactly as evaluation splits
them (:func:`miub.evaluation.encode_pair`), so the training loss is the answer-only
cross-entropy that evaluation reports:

    loss = - sum_{t in answer} log p(x_t | x_<t) / |answer tokens|     (nats/token, per batch)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from miub.errors import MiubUserError
from miub.evaluation.encoding import encode_pair

IGNORE_INDEX = -100  # label of tokens that carry no loss (context, padding)
Example = Mapping[str, Any]


@runtime_checkable
class MultipleChoiceTask(Protocol):
    """What training needs from a task (``miub.tasks.get(name)`` returns one)."""

    def train(self, n: int, seed: int) -> Sequence[Example]: ...

    def validation(self, n: int | None = None) -> Sequence[Example]: ...


def evaluation_examples(task: MultipleChoiceTask, split: str, n: int | None) -> Sequence[Example]:
    """The first ``n`` examples of evaluation split ``split`` (``EvalConfig.split``):
    ``task.validation(n)`` for ``"validation"`` (all a task needs), else the task's
    ``evaluation(split, n)`` (:meth:`miub.tasks.base.Task.evaluation`)."""
    if split == "validation":
        return task.validation(n)
    evaluation = getattr(task, "evaluation", None)
    if evaluation is None:
        raise MiubUserError(
            f"task {type(task).__name__} has only a validation split; set eval.split=validation"
        )
    examples: Sequence[Example] = evaluation(split, n)
    return examples


def get_task(name: str, options: Mapping[str, Any] | None = None) -> MultipleChoiceTask:
    """Look a task up in the registry :mod:`miub.tasks`; unknown names are user errors."""
    try:
        from miub import tasks
    except ImportError:  # tasks are built by a separate part of the project
        raise MiubUserError("the task registry (miub.tasks) is not available") from None
    if name not in tasks.names():
        raise MiubUserError(f"unknown task {name!r}; available: {', '.join(tasks.names())}")
    try:
        task: MultipleChoiceTask = tasks.get(name, **dict(options or {}))
    except TypeError as error:
        raise MiubUserError(f"bad options for task {name!r}: {error}") from None
    return task


@dataclass(frozen=True)
class EncodedExample:
    """One training sequence: ``input_ids`` (L,) and ``labels`` (L,), context labels = -100."""

    input_ids: list[int]
    labels: list[int]


def encode_training_example(
    tokenizer: PreTrainedTokenizerBase, example: Example, max_length: int
) -> EncodedExample:
    """Tokenise ``context + " " + choices[label]``; keep the last ``max_length`` tokens."""
    answer = " " + example["choices"][example["label"]]
    context_ids, answer_ids = encode_pair(tokenizer, example["context"], answer)
    input_ids = (context_ids + answer_ids)[-max_length:]
    n_answer = min(len(answer_ids), len(input_ids) - 1)  # the first token is never predicted
    labels = [IGNORE_INDEX] * (len(input_ids) - n_answer) + input_ids[len(input_ids) - n_answer :]
    return EncodedExample(input_ids, labels)


def encode_training_set(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int
) -> list[EncodedExample]:
    encoded = [encode_training_example(tokenizer, example, max_length) for example in examples]
    if not encoded:
        raise MiubUserError("the task returned no training examples; raise --data-size")
    return encoded


class PadCollator:
    """Right-pad a list of :class:`EncodedExample` into ``input_ids``, ``attention_mask``,
    ``labels``, each ``(B, L_max)`` int64."""

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, batch: Sequence[EncodedExample]) -> dict[str, torch.Tensor]:
        width = max(len(example.input_ids) for example in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, example in enumerate(batch):
            length = len(example.input_ids)
            input_ids[row, :length] = torch.tensor(example.input_ids)
            labels[row, :length] = torch.tensor(example.labels)
            attention_mask[row, :length] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
