"""``miub train``: one LoRA fine-tuning run with periodic evaluation (see :mod:`miub.training`).

    miub train --model zoo:NAME|HF-ID|DIR --task NAME --rank R --data-size D --seed S --out DIR
    miub train --config FILE [key.path=value ...] --out DIR

``--config`` reads a :class:`~miub.training.config.TrainConfig` as YAML or JSON; a run's
``result.json`` works too (its ``config`` is re-run verbatim, so the run is reproduced).
Precedence: ``--config`` < options < ``key.path=value`` overrides (``eval.k=32``,
``learning_rate=1e-3``). Errors are one line naming the flag or key
(:func:`miub.errors.format_validation_error`). An existing run in ``--out`` is never
overwritten without ``--overwrite``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from miub.cli.main import app
from miub.cli.paths import path_value, text_value, writable_dir
from miub.errors import MiubUserError, format_validation_error, merge, parse_assignments

FLAG_NAMES = {
    "model": "--model", "task": "--task", "rank": "--rank", "data_size": "--data-size",
    "seed": "--seed", "alpha": "--alpha", "dropout": "--dropout", "learning_rate": "--lr",
    "epochs": "--epochs", "batch_size": "--batch-size", "device": "--device", "dtype": "--dtype",
    "device_map": "--device-map", "threads": "--threads", "eval.estimators": "--estimator",
    "eval.interval_steps": "--eval-interval", "eval.eval_examples": "--eval-examples",
    "eval.ce_examples": "--eval-examples", "eval.at_start": "--eval-at-start",
}  # fmt: skip
"""TrainConfig field → the ``miub train`` flag that sets it (errors name the flag)."""

RUN_OUTPUTS = ("result.json", "adapter", "metrics.csv", "tensorboard", "train.log")
"""What a run writes into ``--out``; any of them present = an existing run."""

CLI_DEFAULTS: dict[str, Any] = {"threads": 1, "eval": {"at_start": True}}
"""Where ``miub train`` differs from TrainConfig's defaults (a config file overrides them)."""


def read_config_file(path: Path) -> dict[str, Any]:
    """A TrainConfig mapping from YAML / JSON, or the ``config`` of a run's ``result.json``."""
    if not path.is_file():
        raise MiubUserError(
            f"--config: {path} is not a file; pass a YAML/JSON config or result.json"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise MiubUserError(
            f"--config: {path} is not UTF-8 text (byte offset {error.start})"
        ) from None
    except yaml.YAMLError:
        raise MiubUserError(f"--config: {path} is not valid YAML or JSON") from None
    if isinstance(data, dict) and isinstance(data.get("config"), dict) and "run_key" in data:
        data = data["config"]  # a result.json: re-run its config verbatim
    if not isinstance(data, dict):
        raise MiubUserError(f"--config: {path} must hold a mapping of TrainConfig keys")
    return data


def build_config(
    options: dict[str, Any], config_file: Path | None = None, assignments: list[str] | None = None
) -> Any:
    """A validated :class:`TrainConfig` from a config file, options (None = unset) and
    ``key=value`` overrides; any error is one MiubUserError line naming the flag or key."""
    from miub.training.config import TrainConfig

    data = read_config_file(config_file) if config_file is not None else {}
    data = merge(CLI_DEFAULTS, data) if config_file is None else data
    data = merge(data, _drop_unset(options))
    data = merge(data, parse_assignments(assignments or [], "override"))
    for key in ("model", "task"):
        if key not in data:
            raise MiubUserError(f"--{key} is required (or give it in --config)")
    if isinstance(data.get("eval"), dict) and isinstance(data["eval"].get("estimators"), list):
        from miub.sweeps.study import canonical_estimator  # js_mi = js-mi

        names = data["eval"]["estimators"]
        data["eval"] = {
            **data["eval"],
            "estimators": [canonical_estimator(n) if isinstance(n, str) else n for n in names],
        }
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as error:
        known = set(TrainConfig.model_fields) | {f"eval.{k}" for k in TrainConfig.model_fields}
        raise MiubUserError(format_validation_error(error, known, FLAG_NAMES)) from None


def _drop_unset(options: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            value = _drop_unset(value)
            if not value:
                continue
        if value is not None:
            kept[key] = value
    return kept


def prepare_run_dir(out: Path, overwrite: bool) -> None:
    """Check ``--out`` before training: a writable dir, holding no earlier run unless
    ``overwrite`` (then that run's outputs are removed first, so logs never mix)."""
    writable_dir(out, "--out")
    existing = [name for name in RUN_OUTPUTS if (out / name).exists()]
    if existing and not overwrite:
        raise MiubUserError(
            f"--out {out} already holds a run ({', '.join(existing)}); pass another --out,"
            " or --overwrite to replace it"
        )
    for name in existing:
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()


@app.command(context_settings={"allow_extra_args": False})
def train(
    overrides: list[str] | None = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="TrainConfig overrides, e.g. eval.k=32 learning_rate=1e-3"
    ),
    config_file: Path | None = typer.Option(
        None, "--config", parser=path_value, help="TrainConfig as YAML/JSON, or a run's result.json to re-run it"
    ),
    model: str | None = typer.Option(None, "--model", parser=text_value, help="zoo:NAME, a Hugging Face id or a local dir"),
    task: str | None = typer.Option(None, "--task", help="task name (see miub tasks)"),
    out: Path = typer.Option(..., "--out", parser=path_value, help="output dir: result.json, adapter/, logs"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a run already in --out"),
    rank: int | None = typer.Option(None, "--rank", min=1, max=65536, help="LoRA rank R [8]"),
    data_size: int | None = typer.Option(None, "--data-size", min=1, help="fine-tuning examples D [256]"),
    seed: int | None = typer.Option(None, "--seed", min=0, help="seed [0]"),
    alpha: float | None = typer.Option(None, "--alpha", help="LoRA alpha [2 * rank]"),
    dropout: float | None = typer.Option(None, "--dropout", help="LoRA dropout [0.05]"),
    lr: float | None = typer.Option(None, "--lr", help="learning rate [2e-3]"),
    epochs: float | None = typer.Option(None, "--epochs", help="epochs [3]"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="training batch size [16]"),
    estimator: list[str] | None = typer.Option(
        None, "--estimator", help="MIUB estimator, repeatable [js-mi]; 'none' for none"
    ),
    eval_interval: int | None = typer.Option(
        None, "--eval-interval", min=0, help="evaluate every N steps [0: only at the end]"
    ),
    eval_examples: int | None = typer.Option(
        None, "--eval-examples", min=1, help="validation examples for ACC, MIUB and CE [200]"
    ),
    device: str | None = typer.Option(None, "--device", help="auto | cpu | cuda | cuda:N [auto]"),
    dtype: str | None = typer.Option(None, "--dtype", help="float32 | bfloat16 | float16"),
    device_map: str | None = typer.Option(
        None, "--device-map", help="spread a large model over devices (from_pretrained, e.g. auto)"
    ),
    data_dir: str | None = typer.Option(
        None, "--data-dir", parser=text_value, help="pre-downloaded benchmark files (task option data_dir)"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    threads: int | None = typer.Option(None, "--threads", min=1, max=1024, help="torch CPU threads [1]"),
    eval_at_start: bool | None = typer.Option(
        None, "--eval-at-start/--no-eval-at-start", help="evaluate at step 0 (zero-shot) [yes]"
    ),
) -> None:  # fmt: skip
    """Fine-tune a base model with LoRA on a task; log MIUB, CE (answer tokens), PPL and ACC."""
    estimators = None if estimator is None else [e for e in estimator if e.lower() != "none"]
    config = build_config(
        {
            "model": model, "task": task, "rank": rank, "data_size": data_size, "seed": seed,
            "alpha": alpha, "dropout": dropout, "learning_rate": lr, "epochs": epochs,
            "batch_size": batch_size, "device": device, "device_map": device_map,
            "dtype": dtype, "threads": threads,
            "task_options": {"data_dir": data_dir} if data_dir is not None else None,
            "eval": {
                "estimators": estimators, "interval_steps": eval_interval,
                "eval_examples": eval_examples, "ce_examples": eval_examples,
                "at_start": eval_at_start,
            },
        },
        config_file,
        overrides,
    )  # fmt: skip
    _check_estimators(config.eval.estimators)
    prepare_run_dir(out, overwrite)
    from miub.training.loop import run_training

    result = run_training(config, out, progress=progress)
    _refuse_non_finite(result, out)
    _print_summary(result, out)


def _check_estimators(names: list[str]) -> None:
    from miub.estimators import get_spec

    for name in names:
        try:
            get_spec(name)
        except ValueError as error:
            raise MiubUserError(f"--estimator: {error}") from None


def _refuse_non_finite(result: dict[str, Any], out: Path) -> None:
    """A diverged run is recorded as failed (``result.json`` says why) and exits 2."""
    from miub.sweeps.outcome import non_finite_metrics
    from miub.training.results import write_result

    bad = non_finite_metrics(result)
    if not bad:
        return
    reason = f"non-finite metrics {', '.join(bad)}: the run diverged"
    write_result({**result, "status": "failed", "failure": reason}, out)
    raise MiubUserError(
        f"{reason}; {out / 'result.json'} is marked failed; lower --lr or check --alpha"
    )


def _print_summary(result: dict[str, Any], out: Path) -> None:
    table = Table(title=f"run {result['run_key']}", show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("stderr", justify="right")
    from miub.metrics import metrics_in

    metrics = result["metrics"]
    for spec in metrics_in(metrics):  # registry order; stderr columns from the registry
        value = metrics[spec.name]
        if not isinstance(value, int | float):
            continue
        stderr = metrics.get(spec.stderr_column) if spec.stderr_column else None
        table.add_row(spec.name, f"{value:.6g}", "" if stderr is None else f"{stderr:.2g}")
    console = Console()
    console.print(table)
    console.print(f"wrote {out / 'result.json'} and {out / 'adapter'}")
