"""``RunResult``: the committed JSON Schema is the model's, and a written result validates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from miub.training.run_result import RunResult

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "run_result.schema.json"


def _shape(schema: dict[str, Any]) -> dict[str, Any]:
    """Fields, required fields and sub-models: what a reader of result.json relies on (the
    wording pydantic generates differs between its versions, this does not)."""
    return {
        "properties": sorted(schema["properties"]),
        "required": sorted(schema.get("required", [])),
        "defs": {name: sorted(d.get("properties", {})) for name, d in schema["$defs"].items()},
    }


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(SCHEMA.read_text())
    assert _shape(committed) == _shape(RunResult.model_json_schema()), (
        "regenerate: python -m miub.training.run_result docs/run_result.schema.json"
    )


def test_a_malformed_record_is_refused() -> None:
    with pytest.raises(ValidationError, match="run_key"):
        RunResult.model_validate({"status": "completed"})
    with pytest.raises(ValidationError, match="status"):
        RunResult.model_validate({"status": "done?"})
