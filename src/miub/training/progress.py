"""A rich progress bar for the training loop (or nothing, when disabled)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class TrainingProgress:
    """``with TrainingProgress(total_steps) as bar: bar.update(step, loss=...)``.

    The latest value of each named field (loss, acc, ...) is shown after the bar.
    """

    def __init__(self, total_steps: int, *, enabled: bool = True) -> None:
        self.total_steps = total_steps
        self.enabled = enabled
        self._fields: dict[str, float] = {}
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> TrainingProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),  # stdout stays for results
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total_steps, info="")
        return self

    def update(self, step: int, **fields: float) -> None:
        if self._progress is None:
            return
        self._fields.update(fields)
        info = "  ".join(f"{name} {value:.4g}" for name, value in self._fields.items())
        self._progress.update(self._task, completed=step, info=info)

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, info=text)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
