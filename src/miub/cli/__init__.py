"""The ``miub`` command-line interface (typer)."""
