"""``miub zoo``: list, verify and (re)build the built-in base models."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from miub.cli.main import app
from miub.cli.paths import path_value

zoo_app = typer.Typer(help="The built-in tiny Llama base models.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")


@zoo_app.command("list")
def list_models() -> None:
    """Show the zoo models with sizes, pretraining and zero-shot accuracy."""
    from miub import zoo

    data = zoo.manifest()
    table = Table(title="miub zoo")
    for column in (
        "name",
        "params",
        "non-emb",
        "tokens",
        "final loss",
        "time s",
        "recall",
        "cloze",
    ):
        table.add_column(column, justify="left" if column == "name" else "right", no_wrap=True)
    for name in zoo.names():
        entry = data["models"][name]
        shots = entry.get("zero_shot", {})
        table.add_row(
            name,
            f"{entry['parameters']:,}",
            f"{entry['non_embedding_parameters']:,}",
            f"{entry['pretraining_tokens']:,}",
            f"{entry['final_loss']:.3f}",
            f"{entry['wall_seconds']:.0f}",
            f"{shots.get('recall_acc', float('nan')):.3f}",
            f"{shots.get('cloze_acc', float('nan')):.3f}",
        )
    console = Console()
    if not console.is_terminal:  # pipes get 80 columns, too narrow for this table
        console = Console(width=120)
    console.print(table)
    console.print(_real_models_table())


def _real_models_table() -> Table:
    """Real pretrained models shipped by PyPI packages (miub.zoo.real_models)."""
    from miub.zoo import real_models

    table = Table(title="real models (zoo:NAME; converted from the package's GGUF on first use)")
    for column in ("name", "model", "params", "non-emb", "licence", "installed"):
        table.add_column(
            column, justify="right" if "params" in column or column == "non-emb" else "left"
        )
    for name, spec in real_models.REAL_MODELS.items():
        state = "no"
        if real_models.is_installed(name):
            state = "converted" if real_models.model_dir(name).is_dir() else "yes"
        table.add_row(
            name,
            spec.display,
            f"{spec.parameters:,}",
            f"{spec.non_embedding_parameters:,}",
            spec.licence,
            state,
        )
    missing = [
        spec.install
        for name, spec in real_models.REAL_MODELS.items()
        if not real_models.is_installed(name)
    ]
    if missing:
        table.caption = "install: " + " ; ".join(missing)
    return table


@zoo_app.command("verify")
def verify() -> None:
    """Check every shipped file against the manifest's sha256 (exit 2 on any mismatch)."""
    from miub import zoo

    problems = zoo.verify()
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(2)
    typer.echo(f"ok: {len(zoo.names())} models, all hashes match")


def default_build_dir() -> Path:
    """Where ``miub zoo build`` writes by default: ``$MIUB_ZOO_BUILD_DIR``, else
    ``$XDG_CACHE_HOME/miub/zoo`` (``~/.cache/miub/zoo``) — never the package's shipped assets."""
    import os

    if os.environ.get("MIUB_ZOO_BUILD_DIR"):
        return Path(os.environ["MIUB_ZOO_BUILD_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "miub" / "zoo"


@zoo_app.command("build")
def build(
    out: Path | None = typer.Option(
        None,
        parser=path_value,
        help="Output folder (default: ~/.cache/miub/zoo; the shipped assets only if named).",
    ),
    seed: int = typer.Option(0, min=0, help="Seed of initialisation and data order."),
    steps: int = typer.Option(1000, min=1, max=10_000_000, help="Optimizer steps per model."),
    batch_size: int = typer.Option(8, min=1, max=65536, help="Sequences per step."),
    seq_len: int = typer.Option(128, min=1, max=65536, help="Tokens per sequence."),
    sizes: str = typer.Option("", help="Comma-separated model names to build (default: all)."),
    threads: int = typer.Option(
        1, min=1, max=1024, help="torch CPU threads (1 is fastest on a shared machine)."
    ),
) -> None:
    """Pretrain the zoo from scratch: corpus, tokenizer, every size, manifest."""
    import torch

    from miub.cli.paths import writable_dir
    from miub.errors import MiubUserError
    from miub.runners.zoo_build import build_zoo
    from miub.zoo.pretrain import PretrainSettings
    from miub.zoo.specs import MODEL_SPECS

    settings = PretrainSettings(steps=steps, batch_size=batch_size, seq_len=seq_len, seed=seed)
    target = writable_dir(out if out is not None else default_build_dir(), "--out")
    torch.set_num_threads(threads)
    wanted = [s for s in sizes.split(",") if s]
    specs = [s for s in MODEL_SPECS if not wanted or s.name in wanted]
    unknown = set(wanted) - {s.name for s in MODEL_SPECS}
    if unknown:
        valid = ", ".join(s.name for s in MODEL_SPECS)
        raise MiubUserError(f"unknown sizes {sorted(unknown)}; valid: {valid}")
    console = Console()
    console.print(f"building into {target}", highlight=False)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        bars = {s.name: progress.add_task(s.name, total=steps, loss=float("nan")) for s in specs}

        def on_step(name: str, step: int, loss: float) -> None:
            progress.update(bars[name], completed=step + 1, loss=loss)

        manifest = build_zoo(target, specs, settings, on_step=on_step, log=progress.console.print)
    total = manifest["pretraining"]["total_wall_seconds"]
    console.print(f"built {len(specs)} models in {total:.0f} s of pretraining")
