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
    skipped_lines: int = 0


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


def read_jsonl(path: Path, *, skip_bad_lines: bool = False) -> TextDataset:
    """Read a JSONL file of ``text`` rows or multiple-choice rows (the first row decides).

    Multiple-choice rows are turned into texts as ``context + " " + choices[label]``, the
    continuation lm-evaluation-harness scores. Non-UTF-8 or binary content is an error naming
    the line and the byte offset in the file. A line that is not a valid row is an error
    naming its line number; with ``skip_bad_lines`` such lines are skipped instead and
    counted in ``TextDataset.skipped_lines`` (undecodable bytes are never skipped).
    """
    if path.is_dir():
        raise MiubUserError(f"data file {path} is a directory; pass a JSONL file")
    if not path.is_file():
        raise MiubUserError(
            f"data file {path} does not exist; pass a JSONL file with a 'text' field"
        )
    digest = hashlib.sha256()
    rows: list[tuple[int, dict[str, Any]]] = []
    skipped = 0
    offset = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            where = f"{path}:{line_number}"
            if b"\x00" in raw:
                raise MiubUserError(
                    f"{where}: binary data (a NUL byte at byte offset {offset + raw.index(0)});"
                    " pass a UTF-8 JSONL file"
                )
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise MiubUserError(
                    f"{where}: not UTF-8 text (byte offset {offset + error.start} in the file);"
                    " re-encode the file as UTF-8"
                ) from None
            offset += len(raw)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise MiubUserError(f"{where}: each line must be a JSON object")
            except (json.JSONDecodeError, MiubUserError) as error:
                if skip_bad_lines:
                    skipped += 1
                    continue
                if isinstance(error, MiubUserError):
                    raise
                raise MiubUserError(
                    f"{where}: not valid JSON ({error.msg}); one JSON object per line"
                    " (or --skip-bad-lines)"
                ) from None
            digest.update(line.strip().encode())
            rows.append((line_number, row))
    if not rows:
        raise MiubUserError(f"data file {path} has no rows; add JSON lines with a 'text' field")
    kind = "text" if "text" in rows[0][1] else "multiple_choice"
    texts: list[str] = []
    examples: list[dict[str, Any]] = []
    for line_number, row in rows:
        where = f"{path}:{line_number}"
        try:
            texts.append(_row_text(row, kind, where))
        except MiubUserError:
            if not skip_bad_lines:
                raise
            skipped += 1
            continue
        examples.append(row)
    if not texts:
        raise MiubUserError(f"data file {path}: every line was skipped; nothing to measure")
    return TextDataset(
        texts=texts, kind=kind, examples=examples, sha256=digest.hexdigest(), skipped_lines=skipped
    )


def _row_text(row: dict[str, Any], kind: str, where: str) -> str:
    if kind == "text":
        if not isinstance(row.get("text"), str):
            raise MiubUserError(
                f"{where}: missing string field 'text' (or use context/choices/label rows)"
            )
        return str(row["text"])
    if "context" not in row:
        raise MiubUserError(f"{where}: rows need a 'text' field or 'context'/'choices'/'label'")
    _validate_multiple_choice(row, where)
    return str(row["context"]) + " " + str(row["choices"][row["label"]])
