"""LLM-Adapters' ``commonsense_170k`` fine-tuning set, read from a local JSON file.

``data_dir`` is the file, or a folder holding ``commonsense_170k.json``.
The file (Hu et al. 2023, "LLM-Adapters", ``ft-training_set/commonsense_170k.json``) is a JSON
list of ``{"instruction", "input", "output", "answer"}``; ``instruction`` holds the question
with its options and ``output`` the target ("the correct answer is ..."). Each row becomes a
one-choice training example in LLM-Adapters' Alpaca prompt::

    context = PROMPT.format(instruction)            (or PROMPT_WITH_INPUT when input is set)
    choices = [output], label = 0                   trained on as context + " " + output

The last ``validation_size`` rows (in file order) are held out as validation and test; they
are one-choice, so evaluate on the benchmarks (:mod:`miub.tasks.benchmarks`), not on these.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from miub.errors import MiubUserError
from miub.tasks.base import Question, Task
from miub.tasks.hub_data import read_file

FILE_NAME = "commonsense_170k.json"
PROMPT = (
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:"
)
PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)


def commonsense_question(row: dict[str, Any]) -> Question:
    """One LLM-Adapters row as a one-choice question (see the module docstring)."""
    extra = (row.get("input") or "").strip()
    template = PROMPT_WITH_INPUT if extra else PROMPT
    context = template.format(instruction=row["instruction"].strip(), input=extra)
    return Question(context, (row["output"].strip(),), 0, subject="", facts=())


class Commonsense170kTask(Task):
    name = "commonsense-170k"
    description = "LLM-Adapters' mixed commonsense fine-tuning set (local JSON; training only)."

    def __init__(self, data_dir: str | None = None, validation_size: int = 200) -> None:
        super().__init__(num_choices=2)
        if data_dir is None:
            raise MiubUserError(
                "commonsense-170k needs data_dir=... (--data-dir): LLM-Adapters' "
                "commonsense_170k.json, or a folder holding it"
            )
        self.data_dir = data_dir
        self.validation_size = validation_size

    @property
    def options(self) -> dict[str, Any]:
        return {"data_dir": self.data_dir, "validation_size": self.validation_size}

    def build_split(self, split: str) -> list[Question]:
        file = Path(self.data_dir)
        if file.is_dir():
            file = file / FILE_NAME
        if not file.is_file():
            raise MiubUserError(f"commonsense-170k: no file {file}; download commonsense_170k.json")
        try:
            questions = [commonsense_question(row) for row in read_file(file)]
        except (KeyError, AttributeError, TypeError) as error:
            raise MiubUserError(
                f"{file}: rows need instruction/input/output/answer ({error})"
            ) from None
        if len(questions) <= self.validation_size:
            raise MiubUserError(f"{file}: {len(questions)} rows, need > {self.validation_size}")
        held_out = len(questions) - self.validation_size
        return questions[:held_out] if split == "train" else questions[held_out:]
