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

RESULTS_FILE = "results.csv"
ID_COLUMNS = ("study", "run_key", "model", "n_params", "task", "rank", "data_size", "seed")
AXIS_COLUMNS = ("n_params", "rank", "data_size")
EXTERNAL_METRICS = ("ce", "ppl", "err")
# Estimators that are readings of MIUB itself (docs/method.md §3.1–3.3); the claims are tested on
# each. Other ``<name>`` + ``<name>_stderr`` columns are internal baselines (§3.4).
MIUB_ESTIMATORS = ("js_mi", "mi", "dpi", "token_jsd", "miub_token")
INTERNAL_BASELINES = ("norm_ratio", "cosine", "linear_cka")
_DONE = {"done", "completed", "ok", "success", "finished"}
_NOT_METRICS = {*ID_COLUMNS, "status", "wall_s", "acc", "acc_norm", "error"}


@dataclass(frozen=True)
class Metric:
    """A column to analyse. ``kind``: ``miub`` | ``internal`` | ``external``."""

    name: str
    kind: str
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
    renamed = {c: c.strip().replace("-", "_") for c in frame.columns if isinstance(c, str)}
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
        done = status.isin(_DONE)
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
    if not any(m.kind == "miub" for m in metrics):
        notes.append(f"no MIUB estimator columns ({', '.join(MIUB_ESTIMATORS)})")
    if not metrics:
        raise MiubUserError("results.csv has no metric columns with values to analyse")
    return Results(frame=frame.reset_index(drop=True), metrics=metrics, notes=notes)


def find_metrics(frame: pd.DataFrame) -> list[Metric]:
    """Metrics with at least one finite value: MIUB estimators, internal baselines (any other
    ``<name>`` with a ``<name>_stderr``), then CE, PPL and err."""

    def has_values(name: str) -> bool:
        return name in frame.columns and bool(np.isfinite(frame[name].to_numpy(float)).any())

    columns = [c for c in frame.columns if isinstance(c, str)]
    estimators = [
        c
        for c in columns
        if c not in _NOT_METRICS
        and not c.endswith("_stderr")
        and (f"{c}_stderr" in columns or c in MIUB_ESTIMATORS or c in INTERNAL_BASELINES)
        and c not in EXTERNAL_METRICS
    ]
    metrics = [Metric(name, "miub", name) for name in MIUB_ESTIMATORS if name in estimators]
    metrics += [Metric(n, "internal", n) for n in estimators if n not in MIUB_ESTIMATORS]
    labels = {"ce": "CE", "ppl": "PPL", "err": "1 − ACC"}
    metrics += [Metric(name, "external", labels[name]) for name in EXTERNAL_METRICS]
    return [m for m in metrics if has_values(m.name)]
