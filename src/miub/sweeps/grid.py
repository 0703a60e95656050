"""Expand a study's grid into fully resolved run configs, each with its run key.

``full``: every combination of models × tasks × ranks × data_sizes × seeds.
``slices``: the points on the three lines through ``center`` that vary one of model (N),
rank (R) or data size (D) with the other two at the centre — ``|N| + |R| + |D| − 2`` points
per task and seed (the centre is shared). Runs are listed in the order of the full product,
so positions are stable and the order of the YAML lists is the order of the results.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from miub.sweeps.study import Study
from miub.training.config import EvalConfig, TrainConfig, run_key


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study: its position in the grid, key and fully resolved config."""

    position: int
    key: str
    config: TrainConfig


def grid_points(study: Study) -> Iterator[tuple[str, str, int, int, int]]:
    """``(model, task, rank, data_size, seed)`` of every run, in grid order."""
    grid = study.grid
    product = itertools.product(grid.models, grid.tasks, grid.ranks, grid.data_sizes, grid.seeds)
    if grid.kind == "full":
        yield from product
        return
    center = grid.center
    assert center is not None  # guaranteed by Grid's validator
    for model, task, rank, data_size, seed in product:
        off_center = (model != center.model) + (rank != center.rank)
        off_center += data_size != center.data_size
        if off_center <= 1:
            yield model, task, rank, data_size, seed


def template_config(study: Study) -> TrainConfig:
    """The config every run shares, with the first point of the grid on the axes."""
    grid = study.grid
    return TrainConfig(
        model=grid.models[0],
        task=grid.tasks[0],
        rank=grid.ranks[0],
        data_size=grid.data_sizes[0],
        seed=grid.seeds[0],
        **study.lora.model_dump(),
        **study.training.model_dump(),
        eval=EvalConfig(estimators=study.estimators, **study.eval.model_dump()),
    )


def expand_grid(study: Study) -> list[PlannedRun]:
    """Every run of the study, in grid order, keyed by :func:`~miub.training.config.run_key`."""
    template = template_config(study)  # validated once; the axes were validated by Study
    runs = []
    for position, (model, task, rank, data_size, seed) in enumerate(grid_points(study)):
        axes = {"model": model, "task": task, "rank": rank, "data_size": data_size, "seed": seed}
        config = template.model_copy(update=axes)
        runs.append(PlannedRun(position=position, key=run_key(config), config=config))
    if len({run.key for run in runs}) != len(runs):  # distinct axes give distinct configs
        raise AssertionError("two grid points share a run key")
    return runs


def describe_grid(study: Study, n_runs: int) -> str:
    """One line: ``40 runs: slices through (zoo:x, r=4, D=128) of 4 models × 4 ranks ...``."""
    grid = study.grid
    axes = (
        (grid.models, "model"),
        (grid.ranks, "rank"),
        (grid.data_sizes, "data size"),
        (grid.tasks, "task"),
        (grid.seeds, "seed"),
    )
    sizes = " × ".join(f"{len(values)} {name}{'s' * (len(values) != 1)}" for values, name in axes)
    if grid.kind == "full":
        return f"{n_runs} runs: full grid of {sizes}"
    assert grid.center is not None
    center = f"({grid.center.model}, r={grid.center.rank}, D={grid.center.data_size})"
    return f"{n_runs} runs: slices through {center} of {sizes}"
