"""Metric logs of a training run: a long-format CSV (``step,epoch,name,value``) and TensorBoard.

The CSV is for humans and quick plots; the structured record of a run is ``result.json``
(never parse this log to get results).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class RunLog:
    """Append scalar metrics to ``out_dir/metrics.csv`` and, when installed, ``out_dir/tensorboard/``.

    With ``out_dir=None`` nothing is written (a dry log), so the loop needs no branches.
    Names are written as given, e.g. ``train/loss``, ``eval/acc``, ``eval/js_mi``.
    """

    def __init__(self, out_dir: Path | None) -> None:
        self._csv_file: Any = None
        self._writer: Any = None
        self._tensorboard: Any = None
        if out_dir is None:
            return
        out_dir.mkdir(parents=True, exist_ok=True)
        self._csv_file = (out_dir / "metrics.csv").open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._csv_file)
        self._writer.writerow(["step", "epoch", "name", "value"])
        try:  # TensorBoard is optional (`pip install miub[tensorboard]`); the CSV always exists
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        self._tensorboard = SummaryWriter(log_dir=str(out_dir / "tensorboard"))

    def log(self, step: int, epoch: float, metrics: Mapping[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in metrics.items():
            if isinstance(value, int | float) and math.isfinite(value):
                self._writer.writerow([step, f"{epoch:.4f}", name, repr(float(value))])
                if self._tensorboard is not None:
                    self._tensorboard.add_scalar(name, float(value), global_step=step)
        self._csv_file.flush()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._writer is not None:
            self._csv_file.close()
            if self._tensorboard is not None:
                self._tensorboard.close()
            self._writer = None
