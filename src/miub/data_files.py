"""Reading user data files: JSONL with a ``text`` field, or multiple-choice rows
``{"context": str, "choices": [str, ...], "label": int}``.

Every problem is a :class:`~miub.errors.MiubUserError` naming the file, the line and the fix.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miub.errors import MiubUserError


@dataclass(frozen=True)
class TextDataset:
    """Texts to evaluate on, the format they came in, and a hash of the file's rows."""

    texts: list[str]
    kind: str  # "text" | "multiple_choice"
    examples: list[dict[str, Any]]
    sha256: str


def _validate_multiple_choice(row: dict[str, Any], where: str) -> None:
    choices = row.get("choices")
    if not isinstance(row.get("context"), str):
        raise MiubUserError(f"{where}: 'context' must be a string")
    if (
        not isinstance(choices, list)
        or len(choices) < 2
        or not all(isinstance(c, str) for c in choices)
    ):
        raise MiubUserError(f"{where}: 'choices' must be a list of at least 2 strings")
    label = row.get("label")
    if not isinstance(label, int) or not 0 <= label < len(choices):
        raise MiubUserError(f"{where}: 'label' must be an integer index into 'choices'")


def read_jsonl(path: Path) -> TextDataset:
    """Read a JSONL file of ``text`` rows or multiple-choice rows (the first row decides).

    Multiple-choice rows are turned into texts as ``context + " " + choices[label]``, the
    continuation lm-evaluation-harness scores.
    """
    if not path.is_file():
        raise MiubUserError(
            f"data file {path} does not exist; pass a JSONL file with a 'text' field"
        )
    digest = hashlib.sha256()
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            digest.update(line.strip().encode())
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise MiubUserError(
                    f"{path}:{line_number}: not valid JSON ({error.msg}); one JSON object per line"
                ) from None
            if not isinstance(row, dict):
                raise MiubUserError(f"{path}:{line_number}: each line must be a JSON object")
            rows.append(row)
    if not rows:
        raise MiubUserError(f"data file {path} has no rows; add JSON lines with a 'text' field")
    kind = "text" if "text" in rows[0] else "multiple_choice"
    texts: list[str] = []
    for line_number, row in enumerate(rows, start=1):
        where = f"{path}: row {line_number}"
        if kind == "text":
            if not isinstance(row.get("text"), str):
                raise MiubUserError(
                    f"{where}: missing string field 'text' (or use context/choices/label rows)"
                )
            texts.append(row["text"])
        else:
            if "context" not in row:
                raise MiubUserError(
                    f"{where}: rows need a 'text' field or 'context'/'choices'/'label'"
                )
            _validate_multiple_choice(row, where)
            texts.append(row["context"] + " " + row["choices"][row["label"]])
    return TextDataset(texts=texts, kind=kind, examples=rows, sha256=digest.hexdigest())
