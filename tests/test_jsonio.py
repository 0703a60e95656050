"""The one JSON serialiser: strict output, atomic writes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import numpy as np
import pytest

from miub.jsonio import dumps, to_jsonable, write_json


class Colour(Enum):
    RED = "red"


@dataclass
class Point:
    x: float
    y: float


def test_non_finite_numbers_become_null_everywhere() -> None:
    value = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float32("nan"), "d": (2,)}
    assert to_jsonable(value) == {"a": None, "b": [None, None, 1.5], "c": None, "d": [2]}
    json.loads(dumps(value))  # strict parsers accept it: no NaN / Infinity tokens


def test_numpy_enums_dataclasses_and_paths_are_plain_json() -> None:
    value = {
        "i": np.int64(3),
        "b": np.bool_(True),
        "arr": np.array([[1.0, np.nan]]),
        "e": Colour.RED,
        "p": Path("/x/y"),
        "pt": Point(1.0, math.nan),
    }
    assert to_jsonable(value) == {
        "i": 3,
        "b": True,
        "arr": [[1.0, None]],
        "e": "red",
        "p": "/x/y",
        "pt": {"x": 1.0, "y": None},
    }


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError, match="object"):
        to_jsonable(object())


def test_write_json_is_atomic_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "r.json", {"v": math.nan})
    assert json.loads(path.read_text()) == {"v": None}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
