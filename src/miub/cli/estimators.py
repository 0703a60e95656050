"""`miub estimators`: the registry of MIUB estimators with formula, orientation and units."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from miub.cli.main import app


@app.command("estimators")
def estimators() -> None:
    """List the MIUB estimators (default first) with formula, units and parameters."""
    from miub.estimators import list_estimators

    table = Table(
        title="MIUB estimators (docs/method.md §3; reconstructions, not the paper's exact formula)"
    )
    for column in ("name", "formula", "units", "orientation", "parameters"):
        table.add_column(column, overflow="fold")
    for spec in list_estimators():
        parameters = ", ".join(f"{key}={value}" for key, value in spec.defaults.items())
        table.add_row(spec.name, spec.formula, spec.units, spec.orientation, parameters)
    Console().print(table)
