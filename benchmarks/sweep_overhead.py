"""Scheduler + store overhead of ``miub sweep`` per run, and resume time, printed as JSON.

    python benchmarks/sweep_overhead.py [--runs 10000] [--out DIR]

A full-grid study of ``--runs`` runs (10 models × 10 ranks × 10 data sizes × 10 seeds for
10,000) is swept with a no-op runner on the local sequential executor: everything measured is
miub's own work — grid expansion and run keys, the store (one transaction to mark each run
running, one to record it), per-run directories and the CSV export. Then the same sweep is
started again on the finished store ("resume": open the store, re-expand the grid, find that
nothing is left, rewrite results.csv). Targets: ≤ 5 ms per run, resume ≤ 2 s.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from miub.sweeps import parse_study, run_sweep
from miub.training.config import TrainConfig

METRICS = {"ce": 2.5, "ppl": 12.18, "acc": 0.5, "acc_norm": 0.5, "js_mi": 0.1, "js_mi_stderr": 0.01}


def noop_run(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Does nothing; returns a result shaped like a real one (so the export has work to do)."""
    return {"metrics": METRICS, "n_params": {"total": 1000, "non_embedding": 800}}


def study_of(runs: int) -> dict[str, Any]:
    """A full grid of about ``runs`` runs: side^4 with side = runs^(1/4)."""
    side = max(1, round(runs ** (1 / 4)))
    if side**4 != runs:
        raise SystemExit(f"--runs must be a fourth power (10000 = 10^4), got {runs}")
    return {
        "name": "overhead",
        "grid": {
            "models": [f"bench/model-{i}" for i in range(side)],
            "tasks": ["recall"],
            "ranks": [2**i for i in range(side)],
            "data_sizes": [16 * (i + 1) for i in range(side)],
            "seeds": list(range(side)),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary dir")
    args = parser.parse_args()
    study = parse_study(study_of(args.runs))
    with tempfile.TemporaryDirectory() as temporary:
        out = args.out or Path(temporary) / "sweep"
        started = time.perf_counter()
        first = run_sweep(study, out, run_function=noop_run, check=False)
        sweep_s = time.perf_counter() - started
        started = time.perf_counter()
        again = run_sweep(study, out, run_function=noop_run, check=False)
        resume_s = time.perf_counter() - started
        csv_rows = sum(1 for _ in (out / "results.csv").open()) - 1
        store_mb = (out / "runs.sqlite").stat().st_size / 2**20
    per_run_ms = 1000 * sweep_s / args.runs
    report = {
        "runs": args.runs,
        "runner": "no-op",
        "executor": "local, 1 worker",
        "sweep_s": round(sweep_s, 3),
        "overhead_ms_per_run": round(per_run_ms, 3),
        "target_ms_per_run": 5.0,
        "resume_s": round(resume_s, 3),
        "target_resume_s": 2.0,
        "done": first.done,
        "skipped_on_resume": again.skipped,
        "csv_rows": csv_rows,
        "store_mb": round(store_mb, 2),
        "pass": per_run_ms <= 5.0 and resume_s <= 2.0 and first.done == args.runs,
    }
    assert math.isfinite(per_run_ms)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
