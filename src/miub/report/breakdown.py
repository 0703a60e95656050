"""Per-layer × per-module MIUB from ``runs/<run_key>/result.json``, read tolerantly.

The capture writes ``result["miub"] = {"modules": {name: {"layer", "module_type",
"estimates": {estimator: {"value", ...}}}}, "by_layer": ..., "by_module_type": ...}``.
Older or other writers may use ``breakdown``/``capture`` and ``per_layer``/``per_module``/
``per_module_type``; anything unrecognised yields no table (and the report says so).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

_CONTAINERS = ("miub", "breakdown", "capture")
_MODULE_KEYS = ("modules", "per_module")
_LAYER_PATTERN = re.compile(r"(?:layers?|h|blocks?)\.(\d+)\.")


def _canonical(name: str) -> str:
    return name.replace("-", "_")


def module_table(result: dict[str, Any]) -> pd.DataFrame:
    """Rows (layer, module, module_type, estimator, value) from one run's result dict."""
    rows: list[dict[str, Any]] = []
    for container_key in _CONTAINERS:
        container = result.get(container_key)
        if not isinstance(container, dict):
            continue
        for key in _MODULE_KEYS:
            modules = container.get(key)
            if isinstance(modules, dict):
                modules = [
                    {"name": name, **m} for name, m in modules.items() if isinstance(m, dict)
                ]
            if not isinstance(modules, list):
                continue
            for module in modules:
                rows.extend(_module_rows(module))
        if rows:
            break
    return pd.DataFrame(rows, columns=["layer", "module", "module_type", "estimator", "value"])


def _module_rows(module: dict[str, Any]) -> list[dict[str, Any]]:
    name = str(module.get("name", ""))
    layer = module.get("layer")
    if layer is None:
        match = _LAYER_PATTERN.search(name + ".")
        layer = int(match.group(1)) if match else None
    estimates = module.get("estimates") or module.get("values") or {}
    out = []
    for estimator, estimate in estimates.items():
        value = estimate.get("value") if isinstance(estimate, dict) else estimate
        if isinstance(value, int | float) and layer is not None:
            out.append(
                {
                    "layer": int(layer),
                    "module": name.rsplit(".", 1)[-1] or name,
                    "module_type": str(module.get("module_type", "")),
                    "estimator": _canonical(str(estimator)),
                    "value": float(value),
                }
            )
    return out


def load_breakdown(directory: Path, run_keys: list[str]) -> tuple[pd.DataFrame, str]:
    """Per-module values of the given runs, averaged over them; and a note ('' if found).

    Returns a frame with columns (layer, module, module_type, estimator, value).
    """
    tables = []
    missing = 0
    for key in run_keys:
        path = directory / "runs" / str(key) / "result.json"
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            missing += 1
            continue
        table = module_table(result) if isinstance(result, dict) else pd.DataFrame()
        if not table.empty:
            tables.append(table)
    if not tables:
        reason = (
            f"{missing} of {len(run_keys)} result.json files unreadable"
            if missing
            else ("result.json has no per-module MIUB breakdown")
        )
        return pd.DataFrame(), f"no per-layer / per-module heatmap: {reason}"
    combined = pd.concat(tables, ignore_index=True)
    keys = ["layer", "module", "module_type", "estimator"]
    return combined.groupby(keys, as_index=False)["value"].mean(), ""
