"""``miub train``: one LoRA fine-tuning run with periodic evaluation (see :mod:`miub.training`).

miub train --model zoo:NAME|HF-ID|DIR --task NAME --rank R --data-size D --seed S --out DIR
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.errors import MiubUserError


def build_config(**fields: Any) -> Any:
    """A validated :class:`TrainConfig`; pydantic errors become one-line user errors."""
    from miub.training.config import EvalConfig, TrainConfig

    eval_fields = {key: value for key, value in fields.pop("eval").items() if value is not None}
    try:
        return TrainConfig(
            **{k: v for k, v in fields.items() if v is not None}, eval=EvalConfig(**eval_fields)
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MiubUserError(f"invalid option {where}: {first['msg']}") from None


@app.command()
def train(
    model: str = typer.Option(..., "--model", help="zoo:NAME, a Hugging Face id or a local dir"),
    task: str = typer.Option(..., "--task", help="task name (see miub.tasks.names())"),
    out: Path = typer.Option(..., "--out", help="output dir: result.json, adapter/, logs"),
    rank: int = typer.Option(8, "--rank", help="LoRA rank R"),
    data_size: int = typer.Option(256, "--data-size", help="fine-tuning examples D"),
    seed: int = typer.Option(0, "--seed"),
    alpha: float | None = typer.Option(None, "--alpha", help="LoRA alpha (default 2 * rank)"),
    dropout: float | None = typer.Option(None, "--dropout", help="LoRA dropout (default 0.05)"),
    lr: float | None = typer.Option(None, "--lr", help="learning rate (default 2e-3)"),
    epochs: float | None = typer.Option(None, "--epochs", help="epochs (default 3)"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="training batch size (16)"),
    estimator: list[str] | None = typer.Option(
        None, "--estimator", help="MIUB estimator, repeatable (default js-mi); 'none' for none"
    ),
    eval_interval: int | None = typer.Option(
        None, "--eval-interval", help="evaluate every N steps (default 0: only at the end)"
    ),
    eval_examples: int | None = typer.Option(
        None, "--eval-examples", help="validation examples for ACC, MIUB and CE (default 200)"
    ),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    dtype: str = typer.Option("float32", "--dtype", help="float32 | bfloat16 | float16"),
    device_map: str | None = typer.Option(
        None, "--device-map", help="spread a large model over devices (from_pretrained, e.g. auto)"
    ),
    data_dir: str | None = typer.Option(
        None, "--data-dir", help="pre-downloaded benchmark files (task option data_dir)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    threads: int = typer.Option(1, "--threads", help="torch CPU threads (1: fastest on CPU)"),
    eval_at_start: bool = typer.Option(
        True, "--eval-at-start/--no-eval-at-start", help="evaluate at step 0 (zero-shot)"
    ),
) -> None:
    """Fine-tune a base model with LoRA on a task; log MIUB, CE, PPL and ACC."""
    from miub.training.loop import run_training

    estimators = None if estimator is None else [e for e in estimator if e.lower() != "none"]
    if estimators:
        from miub.estimators import get_spec

        for name in estimators:
            try:
                get_spec(name)
            except ValueError as error:
                raise MiubUserError(str(error)) from None
    config = build_config(
        model=model,
        task=task,
        rank=rank,
        data_size=data_size,
        seed=seed,
        alpha=alpha,
        dropout=dropout,
        learning_rate=lr,
        epochs=epochs,
        batch_size=batch_size,
        device=device,
        device_map=device_map,
        dtype=dtype,
        threads=threads,
        task_options={"data_dir": data_dir} if data_dir is not None else None,
        eval={
            "estimators": estimators,
            "interval_steps": eval_interval,
            "eval_examples": eval_examples,
            "ce_examples": eval_examples,
            "at_start": eval_at_start,
        },
    )
    result = run_training(config, out, progress=progress)
    _print_summary(result, out)


def _print_summary(result: dict[str, Any], out: Path) -> None:
    table = Table(title=f"run {result['run_key']}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("stderr", justify="right")
    metrics = result["metrics"]
    for name, value in metrics.items():
        if name.endswith("_stderr") or not isinstance(value, int | float):
            continue
        stderr = metrics.get(f"{name}_stderr")
        table.add_row(name, f"{value:.6g}", "" if stderr is None else f"{stderr:.2g}")
    console = Console()
    console.print(table)
    console.print(f"wrote {out / 'result.json'} and {out / 'adapter'}")
