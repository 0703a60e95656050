"""Studies: declarative sweeps over model size × rank × data × seed that resume and scale out.

    from miub import sweeps
    study = sweeps.load_study(sweeps.resolve_study_path("demo"))   # or a path
    sweeps.check_study(study)                                       # models, tasks, ranks
    summary = sweeps.run_sweep(study, "out/demo")                   # resumable

Modules: :mod:`~miub.sweeps.study` (the file schema), :mod:`~miub.sweeps.grid` (expansion
into run configs and keys), :mod:`~miub.sweeps.checks`, :mod:`~miub.sweeps.sweep` (the
loop), :mod:`~miub.sweeps.store` (``runs.sqlite``), :mod:`~miub.sweeps.export`
(``results.csv``), :mod:`~miub.sweeps.executors` / :mod:`~miub.sweeps.ray_executor`,
:mod:`~miub.sweeps.run_function` (what performs one run; :mod:`miub.testing.synthetic_sweep`
is a fast stand-in).
"""

from miub.sweeps.checks import check_study
from miub.sweeps.grid import PlannedRun, describe_grid, expand_grid
from miub.sweeps.run_function import RunFunction, train_run
from miub.sweeps.store import RunStore
from miub.sweeps.study import (
    Study,
    load_study,
    parse_study,
    resolve_study_path,
    shipped_studies,
    study_hash,
)
from miub.sweeps.sweep import CSV_NAME, STORE_NAME, STUDY_NAME, SweepSummary, run_sweep

__all__ = [
    "CSV_NAME",
    "STORE_NAME",
    "STUDY_NAME",
    "PlannedRun",
    "RunFunction",
    "RunStore",
    "Study",
    "SweepSummary",
    "check_study",
    "describe_grid",
    "expand_grid",
    "load_study",
    "parse_study",
    "resolve_study_path",
    "run_sweep",
    "shipped_studies",
    "study_hash",
    "train_run",
]
