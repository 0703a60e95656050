"""`miub measure`: MIUB + LM CE + LM PPL (all tokens) of a model with a LoRA adapter on a
JSONL file. LM CE is not the answer-token ``ce`` of ``miub train`` (see
:mod:`miub.runners.measure`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from miub.cli.main import app
from miub.cli.paths import path_value, text_value, writable_file
from miub.errors import MiubUserError
from miub.runners.measure import MeasureSettings, run_measurement


def _format(entry: dict[str, Any]) -> str:
    return f"{entry['value']:.5f} ± {entry['stderr']:.5f}"


def _value_table(
    title: str, key_name: str, rows: dict[str, dict[str, Any]], names: list[str]
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(key_name)
    for name in names:
        table.add_column(name, justify="right")
    for key, values in rows.items():
        table.add_row(str(key), *[_format(values[n]) if n in values else "—" for n in names])
    return table


def _kind_label(name: str) -> str:
    """``dependence`` or the baseline's honest label, from the metric registry."""
    from miub.metrics import get_metric, is_metric

    if not is_metric(name):
        return "custom"
    spec = get_metric(name)
    return "dependence" if spec.kind == "dependence" else spec.description


def print_measurement(result: dict[str, Any], console: Console) -> None:
    """Overall, by module type and per layer, with LM CE and LM PPL alongside."""
    miub = result["miub"]
    names = list(miub["estimators"])
    overall = Table(
        title="Overall (mean over LoRA modules; nats unless noted)", title_justify="left"
    )
    overall.add_column("metric")
    overall.add_column("value ± stderr", justify="right")
    for name in names:
        entry = miub["overall"][name]
        overall.add_row(f"{name} ({_kind_label(name)})", _format(entry))
        for extra, value in entry["extras"].items():
            if not extra.endswith("_stderr"):
                stderr = entry["extras"].get(f"{extra}_stderr")
                overall.add_row(
                    f"  {extra}",
                    f"{value:.5f}" + (f" ± {stderr:.5f}" if stderr is not None else ""),
                )
    overall.add_row("LM CE, all tokens (nats/token)", f"{result['lm_ce']:.5f}")
    overall.add_row("LM PPL = exp(LM CE)", f"{result['lm_ppl']:.4f}")
    overall.add_row("tokens", f"{miub['n_tokens']:,}")
    console.print(overall)
    console.print(_value_table("By module type", "type", miub["by_module_type"], names))
    console.print(_value_table("Per layer", "layer", miub["by_layer"], names))


def _positive_finite(value: float) -> float:
    if not math.isfinite(value) or value <= 0:
        raise typer.BadParameter(f"must be a positive finite number, got {value}")
    return value


@app.command()
def measure(
    model: str = typer.Option(
        ..., "--model", parser=text_value, help="zoo:NAME, a Hugging Face id, or a local dir"
    ),
    data: Path = typer.Option(
        ..., "--data", parser=path_value, help="JSONL: 'text' rows or context/choices/label rows"
    ),
    adapter: Path | None = typer.Option(
        None, "--adapter", parser=path_value, help="peft adapter dir (save_pretrained)"
    ),
    estimator: list[str] = typer.Option(
        ["js-mi"], "--estimator", "-e", help="repeatable; see miub estimators"
    ),
    batch_size: int = typer.Option(8, "--batch-size", min=1, max=65536),
    max_tokens: int | None = typer.Option(
        None, "--max-tokens", min=2, help="stop after about this many tokens"
    ),
    max_length: int | None = typer.Option(
        None,
        "--max-length",
        min=2,
        help="truncate texts to this many tokens [min(512, the model's context)]",
    ),
    k: int = typer.Option(
        64, "--k", min=2, max=4096, help="feature alphabet size of matrix estimators"
    ),
    tau: float = typer.Option(
        1.0, "--tau", callback=_positive_finite, help="softmax temperature (> 0, finite)"
    ),
    feature_map: str = typer.Option(
        "projection", "--feature-map", help="projection | topk | identity"
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="seed of the random projection"),
    dtype: str = typer.Option("float32", "--dtype", help="float32 | bfloat16 | float16"),
    device: str = typer.Option("auto", "--device"),
    threads: int = typer.Option(
        1, "--threads", min=1, max=1024, help="torch CPU threads (1: fastest on CPU)"
    ),
    skip_bad_lines: bool = typer.Option(
        False, "--skip-bad-lines", help="skip data lines that are not valid JSON rows (counted)"
    ),
    json_out: Path | None = typer.Option(
        None, "--json", parser=path_value, help="also write the full result here"
    ),
) -> None:
    """Measure MIUB inside every LoRA module, with LM CE and LM PPL over all tokens (train's CE
    scores answer tokens only), on a data file."""
    console = Console()
    if feature_map not in ("projection", "topk", "identity"):
        raise MiubUserError(f"--feature-map {feature_map!r}: use projection, topk or identity")
    if json_out is not None:
        writable_file(json_out, "--json")
    params: dict[str, Any] = {"k": k, "tau": tau, "feature_map": feature_map, "seed": seed}
    # Pass only the parameters some chosen estimator accepts (k etc. mean nothing to cosine).
    from miub.estimators import get_spec
    from miub.sweeps.study import canonical_estimator

    estimator = [canonical_estimator(name) for name in estimator]  # js_mi = js-mi
    try:
        accepted = set().union(*(get_spec(name).defaults for name in estimator))
    except ValueError as error:
        raise MiubUserError(f"--estimator: {error}") from None
    settings = MeasureSettings(
        model=model,
        data=data,
        adapter=adapter,
        estimators=tuple(estimator),
        batch_size=batch_size,
        max_tokens=max_tokens,
        max_length=max_length,
        dtype=dtype,
        device=device,
        threads=threads,
        skip_bad_lines=skip_bad_lines,
        estimator_params={key: v for key, v in params.items() if key in accepted},
    )
    with Progress(
        TextColumn("measuring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("measure", total=None)
        result = run_measurement(
            settings,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    print_measurement(result, console)
    skipped = result["data"].get("skipped_lines", 0)
    if skipped:
        console.print(f"skipped {skipped} bad lines of {data} (--skip-bad-lines)")
    if json_out is not None:
        from miub.jsonio import dumps

        json_out.write_text(dumps(result, indent=2), encoding="utf-8")
        console.print(f"wrote {json_out}")
