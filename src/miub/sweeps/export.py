"""``DIR/results.csv``: one row per finished run of the current study, in grid order.

Columns, exactly: ``study, run_key, model, n_params, task, rank, data_size, seed, status, ce,
ppl, acc, acc_norm``, then ``<estimator>, <estimator>_stderr`` for every MIUB estimator present
in any run's metrics (the registered estimators, :data:`KNOWN_ESTIMATORS`, in registry order),
then ``wall_s``. Failed runs have empty metrics. Secondary values that runs also report
(``base_token_mi``, ``lora_token_mi``, prefixed duplicates such as ``dpi_mi``, ...) stay in
each run's result JSON in the store and in ``runs/<run_key>/result.json``.

Cost: rows are appended as runs finish (O(1) per run); the file is rewritten atomically
(temp file + ``os.replace``) when a sweep starts, when a new estimator column appears, and
when the sweep ends (then in grid order). A crash can leave a missing or torn last line;
the next sweep rewrites the file from the store before running anything.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from miub.sweeps.store import FinishedRun

BASE_COLUMNS = (
    "study", "run_key", "model", "n_params", "task", "rank", "data_size", "seed", "status",
    "ce", "ppl", "acc", "acc_norm",
)  # fmt: skip
KNOWN_ESTIMATORS = (
    "js_mi", "mi", "dpi", "token_jsd", "miub_token", "norm_ratio", "cosine", "linear_cka",
)  # fmt: skip
"""``miub.estimators.list_estimators()`` names with ``-`` → ``_`` (a test keeps them equal)."""


def estimators_in(metrics: dict[str, Any]) -> set[str]:
    """The MIUB estimator names among a run's flat metrics."""
    return {name for name in KNOWN_ESTIMATORS if name in metrics}


def estimator_order(names: Iterable[str]) -> list[str]:
    """Estimators in registry order."""
    names = set(names)
    return [name for name in KNOWN_ESTIMATORS if name in names]


def csv_columns(estimators: Iterable[str]) -> list[str]:
    """The full header for these estimators."""
    columns = list(BASE_COLUMNS)
    for name in estimator_order(estimators):
        columns += [name, f"{name}_stderr"]
    return [*columns, "wall_s"]


def _parameter_count(result: dict[str, Any]) -> Any:
    count = result.get("n_params")
    if isinstance(count, dict):  # {"total": ..., "non_embedding": ...}
        return count.get("total")
    return count


def csv_record(study: str, run: FinishedRun) -> dict[str, str]:
    """The CSV cells of one run, formatted, by column name (estimators from its metrics)."""
    result = run.result or {}
    metrics = result.get("metrics") or {}
    record: dict[str, Any] = {
        "study": study,
        "run_key": run.key,
        "model": run.model,
        "n_params": _parameter_count(result),
        "task": run.task,
        "rank": run.rank,
        "data_size": run.data_size,
        "seed": run.seed,
        "status": run.status,
        "wall_s": run.wall_s,
    }
    for name in ("ce", "ppl", "acc", "acc_norm", *estimators_in(metrics)):
        record[name] = metrics.get(name)
        record[f"{name}_stderr"] = metrics.get(f"{name}_stderr")
    return {column: _cell(value) for column, value in record.items()}


class CsvExport:
    """Keeps ``results.csv`` equal to the finished runs it has been given."""

    def __init__(self, path: Path, study: str) -> None:
        self.path = path
        self.study = study
        self._records: dict[str, tuple[int, dict[str, str]]] = {}
        self._estimators: set[str] = set()
        self._columns: list[str] = csv_columns(())

    def add(self, run: FinishedRun) -> bool:
        """Remember a finished run; True when it brought a new estimator column."""
        record = csv_record(self.study, run)
        self._records[run.key] = (run.position, record)
        metrics = (run.result or {}).get("metrics") or {}
        new = estimators_in(metrics) - self._estimators
        if new:
            self._estimators |= new
            self._columns = csv_columns(self._estimators)
        return bool(new)

    def append(self, run: FinishedRun) -> None:
        """Add one run and append its row (or rewrite the file if the columns changed)."""
        if self.add(run) or not self.path.exists():
            self.rewrite()
            return
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            handle.write(self._format([self._records[run.key][1]]))

    def rewrite(self) -> None:
        """Write the whole file atomically, rows in grid order."""
        rows = [record for _, record in sorted(self._records.values(), key=lambda r: r[0])]
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            handle.write(",".join(self._columns) + "\n")
            handle.write(self._format(rows))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def _format(self, records: list[dict[str, str]]) -> str:
        buffer = io.StringIO()
        columns = self._columns
        rows = [[record.get(column, "") for column in columns] for record in records]
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # shortest exact round-trip
    return str(value)
