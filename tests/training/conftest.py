"""A task a tiny random model can learn (entity → favourite colour) and a saved tiny Llama."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from miub.testing.tiny_models import build_llama, build_tokenizer
from miub.training import EvalConfig, TrainConfig

ENTITIES = ["Arvo", "Belka", "Corin", "Dulse", "Emra", "Fenn", "Gorm", "Hatti"]
COLOURS = ["red", "green", "blue", "gold"]


class ColourTask:
    """``"<entity> likes"`` → the entity's colour, among all four colours in a random order."""

    def _example(self, entity: str, rng: random.Random) -> dict[str, Any]:
        answer = COLOURS[ENTITIES.index(entity) % len(COLOURS)]
        choices = rng.sample(COLOURS, len(COLOURS))
        return {"context": f"{entity} likes", "choices": choices, "label": choices.index(answer)}

    def train(self, n: int, seed: int = 0) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        return [self._example(ENTITIES[i % len(ENTITIES)], rng) for i in range(n)]

    def validation(self, n: int | None = None) -> list[dict[str, Any]]:
        rng = random.Random(12345)
        examples = [self._example(entity, rng) for entity in ENTITIES * 4]
        return examples[:n]


@pytest.fixture
def colour_task() -> ColourTask:
    return ColourTask()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama (d = 32) and its BPE tokenizer, saved with save_pretrained."""
    corpus = [f"{e} likes {c}" for e in ENTITIES for c in COLOURS] * 4
    tokenizer = build_tokenizer(corpus, vocab_size=300)
    model = build_llama(tokenizer, hidden_size=32, num_layers=2, num_heads=4, seed=0)
    directory = tmp_path_factory.mktemp("tiny-llama")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def make_config(model_dir: Path, **overrides: Any) -> TrainConfig:
    """A small, fast run on the colour task (overrides: any TrainConfig field)."""
    eval_overrides = overrides.pop("eval", {})
    fields: dict[str, Any] = {
        "model": str(model_dir),
        "task": "colour",
        "rank": 4,
        "data_size": 64,
        "epochs": 6,
        "batch_size": 8,
        "learning_rate": 1e-2,
        "dropout": 0.0,
        "device": "cpu",
        "eval": EvalConfig(
            **{"eval_examples": 32, "ce_examples": 32, "batch_size": 32, **eval_overrides}
        ),
    }
    fields.update(overrides)
    return TrainConfig(**fields)
