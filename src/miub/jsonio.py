"""The one JSON serialiser of miub: strict JSON (NaN and ±inf become ``null``), atomic writes.

Every file miub writes as JSON (``result.json``, ``fits.json``, ``measure.json``, the
report's data) goes through :func:`to_jsonable` and :func:`write_json`, so a non-finite
number can never produce the invalid tokens ``NaN`` / ``Infinity`` that strict parsers reject.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, recursively; non-finite floats → None.

    Handles dicts, lists/tuples, NumPy scalars and arrays, dataclasses, pydantic models
    (``model_dump``), enums (their value) and paths (``str``).
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, Enum):
        return to_jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="python"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` (see :func:`to_jsonable`)."""
    return json.dumps(to_jsonable(value), indent=indent, allow_nan=False)


def write_json(path: Path, value: Any, *, indent: int | None = 2) -> Path:
    """Write ``value`` to ``path`` atomically (temp file in the same folder + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(dumps(value, indent=indent) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path
