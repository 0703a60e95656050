"""``DIR/results.csv``: one row per finished run of the store's studies, in grid order.

Columns, exactly: ``study, run_key, model, n_params, task, rank, data_size, seed, status, ce,
ppl, acc, acc_norm``, then, for every estimator metric (kind ``dependence`` or ``baseline`` in
the metric registry :mod:`miub.metrics`) present in any run's metrics, its value and, when the
registry says it has one, its standard error (:func:`miub.metrics.metric_columns`, registry
order), then ``wall_s``. Failed runs have empty metrics. Values the registry does not know stay
in each run's result JSON in the store and in ``runs/<run_key>/result.json``.

Rows: the current study's runs in grid order, after the finished runs of studies run earlier
into the same dir (``--allow-changed``) that it does not list, each row naming its study.

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

from miub.metrics import metric_columns, metrics_in
from miub.sweeps.store import FinishedRun

BASE_COLUMNS = (
    "study", "run_key", "model", "n_params", "task", "rank", "data_size", "seed", "status",
    "ce", "ppl", "acc", "acc_norm",
)  # fmt: skip
_EXTERNAL_COLUMNS = ("ce", "ppl", "acc", "acc_norm")


def estimators_in(metrics: dict[str, Any]) -> set[str]:
    """The estimator metrics (registry kinds dependence / baseline) among a run's metrics."""
    return {spec.name for spec in metrics_in(metrics) if spec.kind != "external"}


def csv_columns(estimators: Iterable[str]) -> list[str]:
    """The full header for these estimator metrics."""
    return [*BASE_COLUMNS, *metric_columns(estimators), "wall_s"]


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
    for name in (*_EXTERNAL_COLUMNS, *metric_columns(estimators_in(metrics))):
        record[name] = metrics.get(name)
    return {column: _cell(value) for column, value in record.items()}


class CsvExport:
    """Keeps ``results.csv`` equal to the finished runs it has been given."""

    def __init__(self, path: Path, study: str) -> None:
        self.path = path
        self.study = study
        self._records: dict[str, tuple[tuple[int, int], dict[str, str]]] = {}
        self._estimators: set[str] = set()
        self._columns: list[str] = csv_columns(())

    def add(self, run: FinishedRun, study: str | None = None, group: int = 1) -> bool:
        """Remember a finished run (of ``study``, default the current one; rows sort by
        ``(group, position)``); True when it brought a new estimator column."""
        record = csv_record(study or self.study, run)
        self._records[run.key] = ((group, run.position), record)
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
