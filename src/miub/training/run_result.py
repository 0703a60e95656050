"""``RunResult``: the typed record of one run, from training to the store, the CSV and analysis.

A run's ``result.json`` is ``RunResult.model_dump`` through :mod:`miub.jsonio` (strict JSON);
the sweep store validates every stored result with :meth:`RunResult.from_json` on resume, so a
result written by an incompatible version of miub is reported instead of misread. The JSON
Schema is ``docs/run_result.schema.json`` (regenerate: ``python -m miub.training.run_result``).

Units: metrics in their registry units (``miub.metrics``; nats for CE and the estimators),
timings in seconds, token counts in tokens.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from miub.training.config import TrainConfig

SCHEMA_VERSION = 2
RunStatus = Literal["completed", "failed"]


class ParameterCounts(BaseModel):
    """Base-model parameters (``total``, ``non_embedding``) and LoRA ``trainable`` ones."""

    model_config = ConfigDict(extra="forbid")

    total: int = Field(ge=0)
    non_embedding: int = Field(ge=0)
    trainable: int = Field(ge=0)


class Timings(BaseModel):
    """Wall-clock seconds; ``train_s`` excludes evaluation."""

    model_config = ConfigDict(extra="allow")

    load_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    total_s: float = 0.0
    train_tokens_per_s: float | None = None


class RunResult(BaseModel):
    """One finished (or failed) LoRA run.

    Attributes:
        schema_version: :data:`SCHEMA_VERSION` of the writer.
        status: ``completed`` or ``failed`` (``failure`` then says why).
        run_key: hash of the resolved config (:func:`miub.training.config.run_key`).
        config: the resolved :class:`TrainConfig`; ``miub train --config result.json`` reruns it.
        metrics: flat final metrics, by :mod:`miub.metrics` column (None = not finite).
        miub: the capture's breakdown (overall / by_module_type / by_layer / modules).
        history: one flat dict per evaluation (with ``step`` and ``epoch``).
        n_params: parameter counts.
        model_provenance: where the base model came from (zoo entry, package, file hashes).
    """

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    schema_version: int = SCHEMA_VERSION
    status: RunStatus = "completed"
    failure: str | None = None
    run_key: str
    config: TrainConfig
    metrics: dict[str, float | None]
    miub: dict[str, Any] = Field(default_factory=dict)
    history: list[dict[str, Any]] = Field(default_factory=list)
    n_params: ParameterCounts
    n_train_examples: int = Field(ge=0)
    n_train_tokens: int = Field(ge=0)
    n_train_answer_tokens: int = Field(ge=0)
    tokens_seen: int = Field(ge=0)
    steps: int = Field(ge=0)
    seed: int
    versions: dict[str, str]
    git_revision: str | None
    platform: str
    device: str
    created_utc: str
    timings: Timings
    model_provenance: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, payload: str | bytes | dict[str, Any]) -> RunResult:
        """Validate a stored result (text or parsed); pydantic's ValidationError if it is not one."""
        data = json.loads(payload) if isinstance(payload, str | bytes) else payload
        return cls.model_validate(data)


def write_schema(path: Path) -> Path:
    """Write the JSON Schema of :class:`RunResult` to ``path``."""
    path.write_text(json.dumps(RunResult.model_json_schema(), indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":  # python -m miub.training.run_result [PATH]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/run_result.schema.json")
    print(write_schema(target))
