"""The zoo's model family: Llama shapes and pretraining settings, smallest first."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """Shape and learning rate of one zoo model (all sizes share tokenizer, data and steps)."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    learning_rate: float

    @property
    def intermediate_size(self) -> int:
        """SwiGLU width: 8/3 of the hidden size, rounded up to a multiple of 16 (as in Llama)."""
        return -(-(8 * self.hidden_size) // 3 // 16) * 16

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "intermediate_size": self.intermediate_size}


MODEL_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("world-xxs", hidden_size=32, num_layers=2, num_heads=2, learning_rate=6e-3),
    ModelSpec("world-xs", hidden_size=64, num_layers=3, num_heads=4, learning_rate=5e-3),
    ModelSpec("world-s", hidden_size=96, num_layers=4, num_heads=4, learning_rate=4e-3),
    ModelSpec("world-m", hidden_size=128, num_layers=4, num_heads=4, learning_rate=3.5e-3),
    ModelSpec("world-l", hidden_size=192, num_layers=4, num_heads=6, learning_rate=2e-3),
)
"""Default family, 0.08M to 2.1M parameters (27x; vocabulary 1536, tied embeddings)."""


def spec_by_name(name: str) -> ModelSpec:
    """The spec called ``name`` (KeyError if none)."""
    return {spec.name: spec for spec in MODEL_SPECS}[name]
