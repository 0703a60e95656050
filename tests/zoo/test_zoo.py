"""The shipped zoo: manifest hashes, loading, size ordering, and the recall-vs-size criterion."""

from __future__ import annotations

import math

import pytest
import torch

from miub import zoo
from miub.errors import MiubUserError


def test_every_shipped_file_matches_its_manifest_hash() -> None:
    assert zoo.verify() == []


def test_names_are_ordered_by_size_and_span_at_least_16x() -> None:
    names, models = zoo.names(), zoo.manifest()["models"]
    sizes = [models[name]["parameters"] for name in names]
    assert len(names) >= 4
    assert sizes == sorted(sizes)
    assert sizes[-1] >= 16 * sizes[0]


def test_assets_fit_in_30_mb() -> None:
    total = sum(f.stat().st_size for f in zoo.assets_dir().rglob("*") if f.is_file())
    assert total <= 30 * 1024 * 1024


@pytest.mark.parametrize("name", zoo.names())
def test_load_gives_a_working_model_and_tokenizer(name: str) -> None:
    model, tokenizer = zoo.load(name)
    entry = zoo.manifest()["models"][name]
    assert sum(p.numel() for p in model.parameters()) == entry["parameters"]
    assert tokenizer.pad_token and tokenizer.eos_token and tokenizer.bos_token
    assert model.config.vocab_size == len(tokenizer)
    ids = tokenizer(
        ["Shaetidri lives in", "The while statement"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        logits = model(**ids).logits  # (B, T, V)
    assert logits.shape[-1] == len(tokenizer)
    assert torch.isfinite(logits).all()
    assert zoo.path(name).is_dir()


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(MiubUserError, match=zoo.names()[0]):
        zoo.load("no-such-model")


def test_zero_shot_recall_rises_with_model_size() -> None:
    models = zoo.manifest()["models"]
    recall = [models[name]["zero_shot"]["recall_acc"] for name in zoo.names()]
    assert recall[-1] >= recall[0] + 0.1
    assert all(not math.isnan(r) for r in recall)


def test_context_tokens_are_a_prefix_of_context_plus_choice_tokens() -> None:
    """lm-eval style scoring relies on the continuation starting at a token boundary."""
    from miub.tasks import get

    _, tokenizer = zoo.load(zoo.names()[0])
    for name in ("recall", "novel", "compose", "cloze"):
        for example in get(name).test(100):
            context = tokenizer(example["context"], add_special_tokens=False)["input_ids"]
            for choice in example["choices"]:
                full = tokenizer(example["context"] + " " + choice, add_special_tokens=False)
                assert full["input_ids"][: len(context)] == context
