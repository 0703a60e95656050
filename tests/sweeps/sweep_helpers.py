"""Helpers shared by the sweep tests: small study files (importable from every test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SYNTHETIC = "miub.testing.synthetic_sweep:synthetic_run"


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


def read_csv(path: Path, drop: tuple[str, ...] = ("wall_s",)) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a results.csv, without the ``drop`` columns (timings differ)."""
    import csv

    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [index for index, name in enumerate(rows[0]) if name not in drop]
    return [rows[0][i] for i in keep], [[row[i] for i in keep] for row in rows[1:]]


def runner_failing_on_rank_2(config: Any, run_dir: Path) -> dict[str, Any]:
    """The synthetic runner, except that rank-2 runs raise."""
    from miub.testing.synthetic_sweep import synthetic_run

    if config.rank == 2:
        raise ValueError("rank 2 is cursed\nsecond line of the message")
    return synthetic_run(config, run_dir)


def runner_dying_on_rank_4(config: Any, run_dir: Path) -> dict[str, Any]:
    """The synthetic runner, except that rank-4 runs kill their worker process."""
    import os

    from miub.testing.synthetic_sweep import synthetic_run

    if config.rank == 4:
        os._exit(3)
    return synthetic_run(config, run_dir)
