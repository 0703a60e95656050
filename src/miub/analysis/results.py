"""Read a sweep's ``results.csv`` into a frame of finished runs, and name its metrics.

A sweep directory holds ``results.csv`` (one row per run: ``study, run_key, model, n_params,
task, rank, data_size, seed, status, ce, ppl, acc, acc_norm``, then ``<estimator>`` and
``<estimator>_stderr`` per estimator, then ``wall_s``) and ``runs/<run_key>/result.json``.
Problems that still leave something to analyse (failed runs, missing metric columns, an
unexpected header) become notes; a directory with nothing usable is a :class:`MiubUserError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from miub.errors import MiubUserError
from miub.metrics import MetricKind, column_name, metrics_in

RESULTS_FILE = "results.csv"
ID_COLUMNS = ("study", "run_key", "model", "n_params", "task", "rank", "data_size", "seed")
AXIS_COLUMNS = ("n_params", "rank", "data_size")
DONE = "done"  # the store's finished status (miub.sweeps.outcome.OutcomeStatus)
# The accuracy the metrics are compared with is err = 1 − acc; acc itself is not judged.
_NOT_JUDGED = {"acc", "acc_norm"}


@dataclass(frozen=True)
class Metric:
    """A column to analyse, as the registry names it (``kind``: dependence, baseline,
    external); only oriented metrics are listed."""

    name: str
    kind: MetricKind
    label: str


@dataclass
class Results:
    """Finished runs (one row each) and what was noticed while reading them."""

    frame: pd.DataFrame
    metrics: list[Metric]
    notes: list[str] = field(default_factory=list)
    directory: Path | None = None


def load_results(directory: str | Path) -> Results:
    """Read ``directory/results.csv``; raise :class:`MiubUserError` when there is nothing to
    analyse (no directory, no file, no axis or metric columns, no finished run)."""
    path = Path(directory)
    if not path.is_dir():
        raise MiubUserError(f"{path} is not a directory; pass the --out DIR of a `miub sweep`")
    csv = path / RESULTS_FILE
    if not csv.is_file():
        raise MiubUserError(f"{csv} not found; is {path} the output dir of a `miub sweep`?")
    try:
        frame = pd.read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise MiubUserError(f"{csv} is not a readable CSV ({error})") from error
    results = prepare_frame(frame)
    results.directory = path
    return results


def prepare_frame(frame: pd.DataFrame) -> Results:
    """Normalise a results frame: column names, finished runs only, ``err = 1 − acc``."""
    notes: list[str] = []
    frame = frame.copy()
    renamed = {c: column_name(c.strip()) for c in frame.columns if isinstance(c, str)}
    if any(old != new for old, new in renamed.items()):
        notes.append("column names with '-' read as '_' (results from another miub version?)")
    frame = frame.rename(columns=renamed)
    missing_ids = [c for c in ID_COLUMNS if c not in frame.columns]
    if missing_ids:
        notes.append(f"results.csv lacks columns {missing_ids} (another miub version?)")
    if not any(c in frame.columns for c in AXIS_COLUMNS):
        raise MiubUserError(
            f"results.csv has none of the axis columns {list(AXIS_COLUMNS)}; "
            "was it written by `miub sweep` of this version?"
        )
    if "status" in frame.columns:
        status = frame["status"].astype(str).str.strip().str.lower()
        done = status == DONE
        if (~done).any():
            counts = status[~done].value_counts().to_dict()
            notes.append(f"left out {int((~done).sum())} unfinished runs {counts}")
        frame = frame[done]
    if frame.empty:
        raise MiubUserError("results.csv has no finished runs to analyse")
    for column in frame.columns:
        if column not in ("study", "run_key", "model", "task", "status", "error"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    if "acc" in frame.columns:
        frame["err"] = 1.0 - frame["acc"]
    metrics = find_metrics(frame)
    absent = [m for m in ("ce", "ppl", "err") if m not in {x.name for x in metrics}]
    if absent:
        notes.append(f"no values for {', '.join(absent)} (err = 1 − acc)")
    if not any(m.kind == "dependence" for m in metrics):
        notes.append("no dependence-estimator columns: no claim can be judged")
    if not metrics:
        raise MiubUserError("results.csv has no metric columns with values to analyse")
    return Results(frame=frame.reset_index(drop=True), metrics=metrics, notes=notes)


def find_metrics(frame: pd.DataFrame) -> list[Metric]:
    """The oriented registry metrics among the columns with at least one finite value, in
    registry order (external, then estimators); ``acc`` is left to ``err = 1 − acc``."""

    def has_values(name: str) -> bool:
        return bool(np.isfinite(frame[name].to_numpy(float)).any())

    return [
        Metric(spec.name, spec.kind, spec.label)
        for spec in metrics_in(c for c in frame.columns if isinstance(c, str))
        if spec.oriented and spec.name not in _NOT_JUDGED and has_values(spec.name)
    ]
