"""Helpers shared by the sweep tests: small study files (importable from every test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SYNTHETIC = "miub.sweeps.synthetic:synthetic_run"


def study_data(**changes: Any) -> dict[str, Any]:
    """A small full-grid study over two hub-style model ids (2 × 3 × 2 × 2 = 24 runs)."""
    data: dict[str, Any] = {
        "name": "small",
        "grid": {
            "kind": "full",
            "models": ["org/model-a", "org/model-b"],
            "tasks": ["recall"],
            "ranks": [1, 2, 4],
            "data_sizes": [16, 32],
            "seeds": [0, 1],
        },
        "training": {"epochs": 1, "learning_rate": 0.01},
        "estimators": ["js-mi", "dpi"],
    }
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            data.setdefault(section, {})[field] = value
        else:
            data[section] = value
    return data


def write_study(path: Path, **changes: Any) -> Path:
    """Write ``study_data(**changes)`` as YAML to ``path``."""
    path.write_text(yaml.safe_dump(study_data(**changes), sort_keys=False))
    return path
