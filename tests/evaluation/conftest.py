"""A tiny random Llama with a byte-level BPE tokenizer (BOS added) and multiple-choice data."""

from __future__ import annotations

import random
from typing import Any

import pytest

from miub.testing.tiny_models import build_llama, build_tokenizer

WORDS = ["red", "green", "blue", "yellow", "apple", "banana", "cherry", "stone", "river", "sky"]


def make_examples(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Varied contexts (some with trailing spaces) and choices of different lengths."""
    rng = random.Random(seed)
    examples = []
    for index in range(n):
        context = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
        context = f"Q: {context}?" + (" " if index % 3 == 0 else "")
        choices = rng.sample(WORDS, 4)
        choices[1] = choices[1] + " " + rng.choice(WORDS)  # multi-word choice
        examples.append({"context": context, "choices": choices, "label": rng.randrange(4)})
    return examples


@pytest.fixture(scope="session", params=[True, False], ids=["bos", "no-bos"])
def tiny_tokenizer(request):
    """Byte-level BPE, with and without a BOS token added to every encoding."""
    corpus = [" ".join(random.Random(i).choices(WORDS, k=12)) + " Q: ?" for i in range(200)]
    return build_tokenizer(corpus, vocab_size=300, add_bos=request.param)


@pytest.fixture(scope="session")
def tiny_model(tiny_tokenizer):
    return build_llama(tiny_tokenizer, hidden_size=32, num_layers=2, num_heads=4, seed=1)


@pytest.fixture
def examples() -> list[dict[str, Any]]:
    return make_examples(24)
