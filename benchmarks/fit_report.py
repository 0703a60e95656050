"""Time the demo's fit + report step (issue 12, item 4): ``miub fit DIR && miub report DIR``.

On a private copy of a study directory (the original is never written), with the real CLI
in fresh processes (import time included, as a user pays it):

- ``fit_s``: ``miub fit COPY`` from scratch (no fits.json);
- ``report_reused_s``: ``miub report COPY`` right after it (must reuse fits.json: checked);
- ``report_s``: ``miub report COPY2`` on a second copy without fits.json (fits, then draws);
- ``startup_s``: ``miub fit --help`` (the CLI's import cost, paid by every command);
- ``demo_step_s``: the step as ``miub demo`` runs it and reports it ("fit + report in … s"):
  ``fit_or_reuse`` + ``build_report`` in one process after the imports, on a third copy
  (``demo_fit_s`` and ``demo_report_s`` its two parts);
- ``total`` = fit_s + report_reused_s, the README's two commands; ``target_total_s`` = 15;
- ``cpu_s``: the CPU seconds (user + sys) of each command, ``cpu_total`` of the two: on a
  shared machine (load average printed) wall time overstates the cost, CPU time does not.

Prints one JSON object. Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fit_report.py /tmp/demo1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIUB = str(Path(sys.executable).with_name("miub"))
TARGET_TOTAL_S = 15.0
_REMOVE = ("fits.json", "fits.analysis.pkl", "report.html")


def _copy(study: Path, into: Path) -> Path:
    target = into / study.name
    shutil.copytree(study, target, ignore=shutil.ignore_patterns(".sweep.lock", "figures"))
    for name in _REMOVE:
        (target / name).unlink(missing_ok=True)
    return target


CPU: dict[str, float] = {}  # CPU seconds (user + sys) per timed command: robust to a shared box


def _timed(name: str, *args: str) -> tuple[float, str]:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([MIUB, *args], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[name] = round(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, 2)
    if done.returncode != 0:
        raise SystemExit(f"miub {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds, done.stdout


_DEMO_STEP = """
import json, sys, time
from miub.report import build_report
from miub.runners.fit import fit_or_reuse
start = time.perf_counter()
fitted = fit_or_reuse(sys.argv[1])
middle = time.perf_counter()
build_report(sys.argv[1], fitted.analysis)
print(json.dumps({"fit": middle - start, "report": time.perf_counter() - middle}))
"""


def _demo_step(directory: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _DEMO_STEP, str(directory)], capture_output=True, text=True,
        env=dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1")), check=True,
    )  # fmt: skip
    parts = json.loads(done.stdout.strip().splitlines()[-1])
    return {"fit": float(parts["fit"]), "report": float(parts["report"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a study directory with results.csv")
    options = parser.parse_args()
    if not (options.study / "results.csv").is_file():
        raise SystemExit(f"{options.study} has no results.csv")
    with tempfile.TemporaryDirectory() as scratch:
        first = _copy(options.study, Path(scratch) / "a")
        second = _copy(options.study, Path(scratch) / "b")
        startup_s, _ = _timed("startup_s", "fit", "--help")
        fit_s, _ = _timed("fit_s", "fit", str(first))
        report_reused_s, message = _timed("report_reused_s", "report", str(first))
        if "reusing" not in message:
            raise SystemExit(f"miub report did not reuse fits.json: {message}")
        report_s, _ = _timed("report_s", "report", str(second))
        demo = _demo_step(_copy(options.study, Path(scratch) / "c"))
    total = fit_s + report_reused_s
    print(
        json.dumps(
            {
                "study": str(options.study),
                "fit_s": round(fit_s, 2),
                "report_s": round(report_s, 2),
                "report_reused_s": round(report_reused_s, 2),
                "startup_s": round(startup_s, 2),
                "demo_step_s": round(demo["fit"] + demo["report"], 2),
                "demo_fit_s": round(demo["fit"], 2),
                "demo_report_s": round(demo["report"], 2),
                "total": round(total, 2),
                "target_total_s": TARGET_TOTAL_S,
                "meets_target": total <= TARGET_TOTAL_S,
                "cpu_s": CPU,
                "cpu_total": round(CPU["fit_s"] + CPU["report_reused_s"], 2),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                "load_average": list(os.getloadavg()),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
