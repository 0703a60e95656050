"""The results store of a sweep: ``DIR/runs.sqlite`` (SQLite in WAL mode, single writer).

Tables::

    meta(key PRIMARY KEY, value)                  schema_version, miub_version
    studies(study_hash PRIMARY KEY, name, yaml, n_runs, first_used, last_used)
    study_runs(study_hash, run_key, position)     which runs belong to which study, in order
    runs(run_key PRIMARY KEY, status, model, task, rank, data_size, seed,
         config, result, error, traceback, wall_s, attempts,
         created_at, started_at, finished_at)

``status`` (:data:`StoreStatus`) is ``pending`` → ``running`` → ``done`` | ``failed``.
``config`` and ``result`` are JSON (the run's :class:`~miub.training.config.TrainConfig` and
the run function's result dict); ``error`` is one line, ``traceback`` the full text. Each state
change is one transaction, so a crash (kill -9) loses at most the runs in flight, which stay
``running`` and are re-run. The WAL is checkpointed into the database file after the study is
registered and after every finished run (:meth:`RunStore.checkpoint`), so a lost
``runs.sqlite-wal`` loses nothing but the runs in flight.

Before a store is read, :func:`verify_store` checks it (``PRAGMA quick_check``, an emptied or
unreadable file, a ``results.csv`` listing runs the store does not hold) and raises one
:class:`~miub.errors.MiubUserError` line; a damaged store is never written to. It can be
rebuilt from the run dirs with ``miub sweep STUDY --out DIR --rebuild-store``
(:func:`miub.sweeps.rebuild.rebuild_store`).
A run belongs to every study that lists its exact config: results are keyed by config, never
by study, so two studies sharing an out dir can never mix results of different configs.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from miub.errors import MiubUserError
from miub.sweeps.grid import PlannedRun
from miub.sweeps.outcome import RunOutcome

SCHEMA_VERSION = "1"
StoreStatus = Literal["pending", "running", "done", "failed"]
"""A run's state in the store (the CHECK constraint of ``runs.status``)."""
FINISHED: tuple[StoreStatus, ...] = ("done", "failed")
REBUILD_HINT = "run `miub sweep STUDY --out {out} --rebuild-store` to rebuild it from runs/*/"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    study_hash TEXT PRIMARY KEY, name TEXT NOT NULL, yaml TEXT NOT NULL, n_runs INTEGER NOT NULL,
    first_used REAL NOT NULL, last_used REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS study_runs (
    study_hash TEXT NOT NULL REFERENCES studies(study_hash), run_key TEXT NOT NULL,
    position INTEGER NOT NULL, PRIMARY KEY (study_hash, run_key)
);
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    model TEXT NOT NULL, task TEXT NOT NULL, rank INTEGER NOT NULL, data_size INTEGER NOT NULL,
    seed INTEGER NOT NULL, config TEXT NOT NULL, result TEXT, error TEXT, traceback TEXT,
    wall_s REAL, attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, started_at REAL, finished_at REAL
);
"""


@dataclass(frozen=True)
class StudyRecord:
    """A study registered in a store."""

    study_hash: str
    name: str
    yaml: str


@dataclass(frozen=True)
class FinishedRun:
    """A finished (done or failed) run as stored, ready for the CSV export."""

    position: int
    key: str
    model: str
    task: str
    rank: int
    data_size: int
    seed: int
    status: StoreStatus
    result: dict[str, Any] | None
    wall_s: float | None


def store_problem(path: Path) -> str | None:
    """Why the store at ``path`` cannot be trusted (one phrase), or None if it is sound or
    absent. Read-only: never modifies the file."""
    if not path.exists():
        return None
    if path.is_dir():
        return "is a directory, not a store"
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as error:
        return f"cannot be opened ({error})"
    try:
        rows = db.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            return f"failed its integrity check ({rows[0][0]})"
        db.execute("SELECT COUNT(*) FROM runs").fetchone()
    except sqlite3.Error as error:
        return f"is not a readable miub store ({error})"
    finally:
        db.close()
    return None


def finished_in_csv(csv_path: Path) -> dict[str, str]:
    """``run_key → status`` of the rows of a ``results.csv`` (empty if there is none)."""
    import csv

    if not csv_path.is_file():
        return {}
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return {row["run_key"]: row.get("status") or "" for row in rows if row.get("run_key")}


def verify_store(out: Path, store_name: str = "runs.sqlite", csv_name: str = "results.csv") -> None:
    """Check ``out``'s store before reading it: sound (``PRAGMA quick_check``), and holding
    every run its ``results.csv`` lists (done runs as done). A MiubUserError says what is
    wrong and how to rebuild; nothing is modified."""
    path = out / store_name
    hint = REBUILD_HINT.format(out=out)
    problem = store_problem(path)
    listed = finished_in_csv(out / csv_name)
    if problem is not None:
        kept = f"; {len(listed)} runs are listed in {csv_name}" if listed else ""
        raise MiubUserError(f"{path} {problem}{kept}; it was left as it is; {hint}")
    if not listed:
        return
    if not path.exists():
        raise MiubUserError(
            f"{out / csv_name} lists {len(listed)} runs but {path} is missing; {hint}"
        )
    with RunStore(path, read_only=True) as store:
        held = store.all_statuses()
    lost = [
        key
        for key, status in listed.items()
        if key not in held or (status == "done" and held[key] != "done")
    ]
    if lost:
        raise MiubUserError(
            f"{path} does not hold {len(lost)} of the {len(listed)} runs listed in"
            f" {out / csv_name} (e.g. {lost[0]}); the store lost data; {hint}"
        )


class RunStore:
    """Read/write access to ``runs.sqlite``. Timestamps are Unix seconds (UTC)."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            uri = f"file:{self.path}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
            return
        self._db = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: every commit survives a process crash (kill -9); only an OS crash or
        # power loss can drop the last commits, which are then simply re-run.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        with self.transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
        version = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if version[0] != SCHEMA_VERSION:
            raise RuntimeError(f"{self.path}: store schema {version[0]}, expected {SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (``wal_checkpoint(TRUNCATE)``):
        what is committed then survives a lost ``-wal`` file."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def all_statuses(self) -> dict[str, str]:
        """``run_key → status`` of every run in the store, whatever its study."""
        return dict(self._db.execute("SELECT run_key, status FROM runs").fetchall())

    def studies(self) -> list[StudyRecord]:
        """Every registered study, the first used first."""
        rows = self._db.execute(
            "SELECT study_hash, name, yaml FROM studies ORDER BY first_used, rowid"
        ).fetchall()
        return [StudyRecord(*row) for row in rows]

    def failed_runs(self) -> list[tuple[str, str, str]]:
        """``(run_key, model, error)`` of every failed run."""
        rows = self._db.execute(
            "SELECT run_key, model, COALESCE(error, '') FROM runs WHERE status='failed'"
            " ORDER BY finished_at"
        )
        return [tuple(row) for row in rows.fetchall()]  # type: ignore[misc]

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def current_study(self) -> StudyRecord | None:
        """The study most recently run into this store, if any."""
        row = self._db.execute(
            "SELECT study_hash, name, yaml FROM studies ORDER BY last_used DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return StudyRecord(*row) if row else None

    def register_study(self, record: StudyRecord, runs: list[PlannedRun]) -> None:
        """Make ``record`` the current study and add its runs (new ones as ``pending``)."""
        now = time.time()
        with self.transaction():
            self._db.execute(
                "INSERT INTO studies VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(study_hash) "
                "DO UPDATE SET last_used = excluded.last_used",
                (record.study_hash, record.name, record.yaml, len(runs), now, now),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO study_runs VALUES (?, ?, ?)",
                ((record.study_hash, run.key, run.position) for run in runs),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO runs (run_key, status, model, task, rank, data_size, seed,"
                " config, created_at) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        run.key,
                        run.config.model,
                        run.config.task,
                        run.config.rank,
                        run.config.data_size,
                        run.config.seed,
                        run.config.model_dump_json(),
                        now,
                    )
                    for run in runs
                ),
            )
        self.checkpoint()

    def plan(self, study_hash: str) -> list[tuple[int, str, str]] | None:
        """``(position, run_key, status)`` of a registered study's runs in grid order; None
        if the study is not registered here."""
        rows = self._db.execute(
            "SELECT s.position, r.run_key, r.status FROM study_runs s JOIN runs r USING (run_key)"
            " WHERE s.study_hash = ? ORDER BY s.position",
            (study_hash,),
        ).fetchall()
        if not rows and self.study(study_hash) is None:
            return None
        return rows

    def study(self, study_hash: str) -> StudyRecord | None:
        """The registered study with this hash, if any."""
        row = self._db.execute(
            "SELECT study_hash, name, yaml FROM studies WHERE study_hash = ?", (study_hash,)
        ).fetchone()
        return StudyRecord(*row) if row else None

    def touch_study(self, study_hash: str) -> None:
        """Make an already registered study the current one."""
        self._db.execute(
            "UPDATE studies SET last_used = ? WHERE study_hash = ?", (time.time(), study_hash)
        )

    def configs(self, keys: Iterable[str]) -> dict[str, str]:
        """``run_key → config JSON`` for these runs."""
        query = "SELECT config FROM runs WHERE run_key = ?"
        return {key: self._db.execute(query, (key,)).fetchone()[0] for key in keys}

    def statuses(self, study_hash: str) -> dict[str, str]:
        """``run_key → status`` of every run of a study."""
        rows = self._db.execute(
            "SELECT r.run_key, r.status FROM study_runs s JOIN runs r USING (run_key) "
            "WHERE s.study_hash = ?",
            (study_hash,),
        )
        return dict(rows.fetchall())

    def mark_running(self, key: str) -> None:
        """Record that a run was handed to an executor."""
        self._db.execute(
            "UPDATE runs SET status='running', attempts=attempts+1, started_at=?, result=NULL,"
            " error=NULL, traceback=NULL, wall_s=NULL, finished_at=NULL WHERE run_key=?",
            (time.time(), key),
        )

    def record(self, outcome: RunOutcome, result_json: str | None) -> None:
        """Store a finished run (one transaction)."""
        self._db.execute(
            "UPDATE runs SET status=?, result=?, error=?, traceback=?, wall_s=?, finished_at=?"
            " WHERE run_key=?",
            (
                outcome.status,
                result_json,
                outcome.error,
                outcome.traceback,
                outcome.wall_s,
                time.time(),
                outcome.key,
            ),
        )
        self.checkpoint()

    def restore(
        self, key: str, status: StoreStatus, result_json: str | None, error: str | None,
        wall_s: float | None, finished_at: float | None,
    ) -> None:  # fmt: skip
        """Set a registered run's outcome as read back from its run dir (rebuild)."""
        self._db.execute(
            "UPDATE runs SET status=?, result=?, error=?, traceback=?, wall_s=?, finished_at=?,"
            " attempts=MAX(attempts, 1) WHERE run_key=?",
            (status, result_json, error, error, wall_s, finished_at, key),
        )

    def finished_runs(self, study_hash: str, exclude: Iterable[str] = ()) -> list[FinishedRun]:
        """The study's done/failed runs in grid order, except the keys in ``exclude``."""
        skip = set(exclude)
        rows = self._db.execute(
            "SELECT s.position, r.run_key, r.model, r.task, r.rank, r.data_size, r.seed,"
            " r.status, r.result, r.wall_s"
            " FROM study_runs s JOIN runs r USING (run_key)"
            " WHERE s.study_hash = ? AND r.status IN ('done', 'failed') ORDER BY s.position",
            (study_hash,),
        )
        return [
            FinishedRun(
                position,
                key,
                model,
                task,
                rank,
                data_size,
                seed,
                status,
                json.loads(result) if result is not None else None,
                wall_s,
            )
            for position, key, model, task, rank, data_size, seed, status, result, wall_s in rows
            if key not in skip
        ]

    def earlier_studies_runs(self, current_hash: str) -> list[tuple[str, FinishedRun]]:
        """``(study name, run)`` of the finished runs of every other registered study that the
        current study does not list, studies in order of first use, runs in grid order; each
        run once. ``results.csv`` keeps these rows after ``--allow-changed``."""
        rows = self._db.execute(
            "SELECT st.name, s.position, r.run_key, r.model, r.task, r.rank, r.data_size, r.seed,"
            " r.status, r.result, r.wall_s"
            " FROM studies st JOIN study_runs s USING (study_hash) JOIN runs r USING (run_key)"
            " WHERE st.study_hash != ? AND r.status IN ('done', 'failed')"
            " AND r.run_key NOT IN (SELECT run_key FROM study_runs WHERE study_hash = ?)"
            " ORDER BY st.first_used, st.rowid, s.position",
            (current_hash, current_hash),
        )
        seen: set[str] = set()
        runs = []
        for name, position, key, model, task, rank, size, seed, status, result, wall in rows:
            if key in seen:
                continue
            seen.add(key)
            parsed = json.loads(result) if result is not None else None
            runs.append(
                (
                    name,
                    FinishedRun(position, key, model, task, rank, size, seed, status, parsed, wall),
                )
            )
        return runs

    def run_row(self, key: str) -> dict[str, Any] | None:
        """Every column of one run, or None."""
        cursor = self._db.execute("SELECT * FROM runs WHERE run_key = ?", (key,))
        row = cursor.fetchone()
        if row is None:
            return None
        return dict(zip([column[0] for column in cursor.description], row, strict=True))
