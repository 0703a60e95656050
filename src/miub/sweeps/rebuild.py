"""Rebuild ``runs.sqlite`` from the run dirs: ``miub sweep STUDY --out DIR --rebuild-store``.

Every finished run leaves ``DIR/runs/<run_key>/outcome.json`` (status, one-line error, wall
seconds, finish time; written by the sweep before the store records the run) and, when done,
``result.json`` (the run function's result). A rebuild registers the study's grid in a fresh
store and restores each run from those two files: ``done`` with its result, ``failed`` with
its error, else ``pending`` (it will run). The old store, damaged or not, is moved aside to
``runs.sqlite.damaged-<UTC time>`` (with its ``-wal`` / ``-shm``), never deleted.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miub.sweeps.grid import expand_grid
from miub.sweeps.outcome import RunOutcome
from miub.sweeps.store import RunStore, StudyRecord

OUTCOME_FILE = "outcome.json"
RESULT_FILE = "result.json"


@dataclass(frozen=True)
class RebuildSummary:
    """What a rebuild restored; ``moved_to``: where the old store went (None if there was none)."""

    done: int
    failed: int
    pending: int
    moved_to: Path | None


def write_outcome_files(run_dir: Path, outcome: RunOutcome, result_json: str | None) -> None:
    """Leave the run's outcome in its dir (atomically), so the store can be rebuilt from it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if result_json is not None and not (run_dir / RESULT_FILE).is_file():
        _write(run_dir / RESULT_FILE, result_json)  # a run function that wrote none
    record = {
        "run_key": outcome.key,
        "status": outcome.status,
        "error": outcome.error,
        "wall_s": outcome.wall_s,
        "finished_at": time.time(),
    }
    _write(run_dir / OUTCOME_FILE, json.dumps(record, indent=2))


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def move_aside(store_path: Path) -> Path | None:
    """Rename the store and its WAL files to ``<name>.damaged-<time>``; the new name or None."""
    if not store_path.exists():
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = store_path.with_name(f"{store_path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = store_path.with_name(store_path.name + suffix)
        if source.exists():
            os.replace(source, target.with_name(target.name + suffix))
    return target


def rebuild_store(out: Path, store_name: str, study: Any, record: StudyRecord) -> RebuildSummary:
    """Move the old store aside and rebuild it for ``study`` from ``out/runs/*/`` (see above)."""
    moved = move_aside(out / store_name)
    runs = expand_grid(study)
    counts = {"done": 0, "failed": 0, "pending": 0}
    with RunStore(out / store_name) as store:
        store.register_study(record, runs)
        with store.transaction():
            for run in runs:
                run_dir = out / "runs" / run.key
                outcome = _read(run_dir / OUTCOME_FILE)
                result = _read(run_dir / RESULT_FILE)
                status = outcome.get("status") if outcome else None
                if status == "done" and result is not None and "metrics" in result:
                    store.restore(
                        run.key, "done", json.dumps(result), None,
                        outcome.get("wall_s") if outcome else None,
                        outcome.get("finished_at") if outcome else None,
                    )  # fmt: skip
                    counts["done"] += 1
                elif status == "failed" and outcome is not None:
                    store.restore(
                        run.key, "failed", None, str(outcome.get("error") or "failed"),
                        outcome.get("wall_s"), outcome.get("finished_at"),
                    )  # fmt: skip
                    counts["failed"] += 1
                else:
                    counts["pending"] += 1
        store.checkpoint()
    return RebuildSummary(counts["done"], counts["failed"], counts["pending"], moved)
