"""Entry point of the ``miub`` command: one typer app, sub-commands registered from modules.

Errors the user can fix end as one line on stderr with exit code 2 and no traceback: a
:class:`miub.errors.MiubUserError`, an OS error the user caused
(:func:`miub.errors.user_os_error`: permission, read-only, disk full, is-a-directory) and a
bad command line (click's usage errors, which name the flag). Anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

try:  # typer >= 0.20 vendors click; its exceptions are what the app raises
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click  # type: ignore[no-redef]

from miub.errors import MiubUserError, user_os_error

app = typer.Typer(
    name="miub",
    help="MIUB: mutual-information upper bound and scaling laws for LoRA fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib import metadata

        try:
            version = metadata.version("miub")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed)"
        typer.echo(f"miub {version}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """MIUB: mutual-information upper bound and scaling laws for LoRA fine-tuning."""


def register_commands() -> None:
    """Import command modules; each adds its commands to ``app``."""
    from importlib import import_module

    for module in ("measure", "sweep", "zoo", "train", "analyze", "demo", "estimators"):
        import_module(f"miub.cli.{module}")


_register_commands = register_commands  # older name, kept for callers


def _wide_pipes() -> None:
    """Piped output is not cut to 80 columns: rich uses ``COLUMNS`` when it is not a terminal."""
    if not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        os.environ["COLUMNS"] = "200"


def fail(message: str) -> None:
    """Print ``error: message`` (one line) on stderr and exit with code 2."""
    line = " ".join(str(message).split())  # one line, whatever the message held
    typer.echo(f"error: {line}", err=True)
    sys.exit(2)


def main(argv: list[str] | None = None) -> Any:
    """Run the ``miub`` command line (``argv``: the arguments, default ``sys.argv[1:]``)."""
    register_commands()
    _wide_pipes()
    try:
        code = app(args=argv, standalone_mode=False, prog_name="miub")
    except MiubUserError as error:
        fail(str(error))
    except click.NoArgsIsHelpError as error:
        error.show()
        sys.exit(2)
    except click.UsageError as error:
        hint = f" (see miub {error.ctx.info_name} --help)" if error.ctx is not None else ""
        fail(error.format_message() + hint)
    except click.ClickException as error:
        fail(error.format_message())
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except OSError as error:
        message = user_os_error(error)
        if message is None:
            raise
        fail(message)
    if isinstance(code, int) and code:
        sys.exit(code)
    return None


if __name__ == "__main__":
    # Run through the importable module so command modules share this very ``app``.
    from miub.cli.main import main as _main

    _main()
