"""Entry point of the ``miub`` command: one typer app, sub-commands registered from modules.

User errors (:class:`miub.errors.MiubUserError`) are printed as one line on stderr with exit
code 2 and no traceback.
"""

from __future__ import annotations

import sys

import typer

from miub.errors import MiubUserError

app = typer.Typer(
    name="miub",
    help="MIUB: mutual-information upper bound and scaling laws for LoRA fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def register_commands() -> None:
    """Import command modules; each adds its commands to ``app``."""
    from importlib import import_module

    for module in ("measure", "sweep", "zoo", "train", "analyze", "demo", "estimators"):
        import_module(f"miub.cli.{module}")


_register_commands = register_commands  # older name, kept for callers


def main() -> None:
    register_commands()
    try:
        app()
    except MiubUserError as error:
        typer.echo(f"error: {error}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    # Run through the importable module so command modules share this very ``app``.
    from miub.cli.main import main as _main

    _main()
