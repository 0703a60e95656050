"""Benchmark tasks read from pre-downloaded files with the hub schemas, worded as lm-eval.

Each expected context/choices/label is written by hand from the lm-eval 0.4.x task yaml
(``doc_to_text`` / ``doc_to_choice`` / ``doc_to_target``) applied to the row above it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from miub import tasks
from miub.errors import MiubUserError

ARC_ROW = {
    "id": "Mercury_7175875",
    "question": "An astronomer observes that a planet rotates faster after a meteorite impact. "
    "Which is the most likely effect of this increase in rotation?",
    "choices": {
        "text": [
            "Planetary density will decrease.",
            "Planetary years will become longer.",
            "Planetary days will become shorter.",
            "Planetary gravity will become stronger.",
        ],
        "label": ["A", "B", "C", "D"],
    },
    "answerKey": "C",
}

CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "boolq": (
        {
            "question": "do iran and afghanistan speak the same language",
            "passage": "Persian language -- Persian is spoken in Iran and Afghanistan.",
            "idx": 0,
            "label": 1,
        },
        {
            "context": "Persian language -- Persian is spoken in Iran and Afghanistan.\n"
            "Question: do iran and afghanistan speak the same language?\nAnswer:",
            "choices": ["no", "yes"],
            "label": 1,
        },
    ),
    "piqa": (
        {
            "goal": "How do I dry a wet phone?",
            "sol1": "Put it in rice.",
            "sol2": "Put it in water.",
            "label": 0,
        },
        {
            "context": "Question: How do I dry a wet phone?\nAnswer:",
            "choices": ["Put it in rice.", "Put it in water."],
            "label": 0,
        },
    ),
    "siqa": (
        {
            "context": "Tracy didn't go home that evening and resisted Riley's attacks.",
            "question": "What does Tracy need to do before this?",
            "answerA": "make a new plan",
            "answerB": "Go home and see Riley",
            "answerC": "Find somewhere to go",
            "label": "3",
        },
        {
            "context": "Q: Tracy didn't go home that evening and resisted Riley's attacks. "
            "What does Tracy need to do before this?\nA:",
            "choices": ["make a new plan", "Go home and see Riley", "Find somewhere to go"],
            "label": 2,
        },
    ),
    "hellaswag": (
        {
            "ind": 4,
            "activity_label": "Finance and Business",
            "ctx_a": "[header] How to make money [title] Sell stuff.",
            "ctx_b": "",
            "ctx": "[header] How to make money [title] Sell stuff.",
            "endings": [
                "[step] Put things on ebay.",
                "Eat  the  money.",
                "Burn it.",
                "x [title] y",
            ],
            "source_id": "wikihow~1",
            "split": "val",
            "split_type": "indomain",
            "label": "0",
        },
        {
            "context": "Finance and Business: How to make money. Sell stuff.",
            "choices": [" Put things on ebay.", "Eat the money.", "Burn it.", "x. y"],
            "label": 0,
        },
    ),
    "winogrande": (
        {
            "sentence": "Sarah was a much better surgeon than Maria so _ always got the harder cases.",
            "option1": "Sarah",
            "option2": "Maria",
            "answer": "1",
        },
        {
            "context": "Sarah was a much better surgeon than Maria so",
            "choices": [
                "Sarah always got the harder cases.",
                "Maria always got the harder cases.",
            ],
            "label": 0,
            "partial_contexts": [
                "Sarah was a much better surgeon than Maria so Sarah",
                "Sarah was a much better surgeon than Maria so Maria",
            ],
            "continuation": "always got the harder cases.",
        },
    ),
    "arc-easy": (
        ARC_ROW,
        {
            "context": f"Question: {ARC_ROW['question']}\nAnswer:",
            "choices": ARC_ROW["choices"]["text"],  # type: ignore[index]
            "label": 2,
        },
    ),
    "arc-challenge": (
        {
            **ARC_ROW,
            "choices": {"text": ["a", "b", "c", "d"], "label": ["1", "2", "3", "4"]},
            "answerKey": "4",
        },
        {
            "context": f"Question: {ARC_ROW['question']}\nAnswer:",
            "choices": ["a", "b", "c", "d"],
            "label": 3,
        },
    ),
    "openbookqa": (
        {
            "id": "7-980",
            "question_stem": "The sun is responsible for",
            "choices": {
                "text": ["puppies learning new tricks", "plants sprouting, blooming and wilting"],
                "label": ["A", "B"],
            },
            "answerKey": " B",
        },
        {
            "context": "The sun is responsible for",
            "choices": ["puppies learning new tricks", "plants sprouting, blooming and wilting"],
            "label": 1,
        },
    ),
}


def write_splits(directory: Path, row: dict[str, Any], fmt: str) -> None:
    """Write ``row`` as every split in the format a user's pre-download would have."""
    directory.mkdir()
    splits = ("train", "validation", "test")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        for split in splits:
            pq.write_table(pa.Table.from_pylist([row]), directory / f"{split}.parquet")
    elif fmt == "json":
        for split in splits:
            (directory / f"{split}.json").write_text(json.dumps([row, row]))
    else:
        for split in splits:
            (directory / f"{split}.jsonl").write_text(json.dumps(row) + "\n")


FORMATS = {"arc-easy": "parquet", "openbookqa": "json"}


@pytest.mark.parametrize("name", list(CASES))
def test_benchmark_rows_are_worded_as_lm_eval(name: str, tmp_path: Path) -> None:
    row, expected = CASES[name]
    write_splits(tmp_path / name, row, FORMATS.get(name, "jsonl"))
    task = tasks.get(name, data_dir=str(tmp_path / name))
    assert task.test(1) == [expected]
    assert task.validation(1) == [expected]
    assert task.train(1, seed=3) == [expected]


def test_one_data_dir_serves_the_whole_suite(tmp_path: Path) -> None:
    for name in ("boolq", "siqa"):
        write_splits(tmp_path / name, CASES[name][0], "jsonl")
    for name in ("boolq", "siqa"):
        assert tasks.get(name, data_dir=str(tmp_path)).test() == [CASES[name][1]]


def test_a_saved_dataset_dict_is_read(tmp_path: Path) -> None:
    import datasets

    row, expected = CASES["piqa"]
    data = datasets.DatasetDict(
        {split: datasets.Dataset.from_list([row]) for split in ("train", "validation")}
    )
    data.save_to_disk(str(tmp_path / "piqa"))
    assert tasks.get("piqa", data_dir=str(tmp_path / "piqa")).test() == [expected]


def test_missing_files_and_wrong_schemas_are_one_line_user_errors(tmp_path: Path) -> None:
    with pytest.raises(MiubUserError, match=r"no validation\.jsonl"):
        tasks.get("boolq", data_dir=str(tmp_path)).validation()
    write_splits(tmp_path / "piqa", CASES["boolq"][0], "jsonl")
    with pytest.raises(MiubUserError, match="does not have the baber/piqa schema"):
        tasks.get("piqa", data_dir=str(tmp_path / "piqa")).test()


def test_commonsense_170k_rows_become_alpaca_prompted_training_examples(tmp_path: Path) -> None:
    row = {
        "instruction": "Please choose the correct answer to the question: Where do fish live?"
        "\n\nAnswer1: trees Answer2: water\n\nAnswer format: answer1/answer2",
        "input": "",
        "output": "the correct answer is answer2",
        "answer": "answer2",
    }
    path = tmp_path / "commonsense_170k.json"
    path.write_text(json.dumps([row] * 5))
    task = tasks.get("commonsense-170k", data_dir=str(tmp_path), validation_size=2)
    examples = task.train(3, seed=0)
    assert len(examples) == 3 and len(task.validation()) == 2
    assert examples[0] == {
        "context": "Below is an instruction that describes a task. Write a response that "
        "appropriately completes the request.\n\n### Instruction:\n"
        + row["instruction"]
        + "\n\n### Response:",
        "choices": ["the correct answer is answer2"],
        "label": 0,
    }
    with pytest.raises(MiubUserError, match="needs data_dir"):
        tasks.get("commonsense-170k")
