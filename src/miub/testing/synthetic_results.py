"""Seeded synthetic sweep results, shaped like ``miub sweep``'s output, for tests and demos.

The numbers follow made-up laws (they mean nothing): CE = 1.2 + 30·N^−0.3 + 4·D^−0.4 +
0.3·R^−0.5 with 1 % multiplicative seed noise; ``js_mi`` = 0.05 + 0.4·N^−0.1·R^−0.3·D^−0.1
with 3 % noise (decreases along every axis); ``token_jsd`` rises with R; ``cosine`` is
centred near 0 (has negative values). ``write_synthetic_sweep`` also writes
``runs/<run_key>/result.json`` with a per-module MIUB breakdown like the capture's.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

MODELS = {"tiny-xs": 2.0e5, "tiny-s": 8.0e5, "tiny-m": 3.2e6, "tiny-l": 1.28e7}
RANKS = (1, 2, 4, 8, 16)
DATA_SIZES = (64, 128, 256, 512)
CENTRE = ("tiny-s", 4, 128)
MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def synthetic_results(design: str = "slices", seeds: int = 2, seed: int = 0) -> pd.DataFrame:
    """A results frame: ``slices`` (one axis at a time through the centre) or ``factorial``."""
    rng = np.random.default_rng(seed)
    configs = _configs(design)
    rows = []
    for model, rank, data_size in configs:
        n = MODELS[model]
        for run_seed in range(seeds):
            key = hashlib.sha256(f"{model}-{rank}-{data_size}-{run_seed}".encode()).hexdigest()
            ce = (1.2 + 30 * n**-0.3 + 4 * data_size**-0.4 + 0.3 * rank**-0.5) * _noise(rng, 0.01)
            js_mi = (0.05 + 0.4 * n**-0.1 * rank**-0.3 * data_size**-0.1) * _noise(rng, 0.03)
            token_jsd = 0.2 + 0.05 * math.log(rank) + rng.normal(0, 0.01)
            acc = float(np.clip(0.3 + 0.7 * math.exp(-(ce - 1.0)) + rng.normal(0, 0.01), 0, 1))
            rows.append(
                {
                    "study": "synthetic",
                    "run_key": key[:16],
                    "model": model,
                    "n_params": int(n),
                    "task": "recall",
                    "rank": rank,
                    "data_size": data_size,
                    "seed": run_seed,
                    "status": "done",
                    "ce": ce,
                    "ppl": math.exp(ce),
                    "acc": acc,
                    "acc_norm": acc,
                    "js_mi": js_mi,
                    "js_mi_stderr": 0.01 * js_mi,
                    "token_jsd": token_jsd,
                    "token_jsd_stderr": 0.002,
                    "cosine": 0.02 * math.log(rank) - 0.03 + rng.normal(0, 0.01),
                    "cosine_stderr": 0.001,
                    "wall_s": 1.0,
                }
            )
    return pd.DataFrame(rows)


def _configs(design: str) -> list[tuple[str, int, int]]:
    if design == "factorial":
        return [(m, r, d) for m in MODELS for r in RANKS for d in DATA_SIZES]
    if design != "slices":
        raise ValueError("design is 'slices' or 'factorial'")
    model, rank, data_size = CENTRE
    configs = [(m, rank, data_size) for m in MODELS]
    configs += [(model, r, data_size) for r in RANKS if r != rank]
    configs += [(model, rank, d) for d in DATA_SIZES if d != data_size]
    return configs


def _noise(rng: np.random.Generator, scale: float) -> float:
    return float(np.exp(rng.normal(0.0, scale)))


def write_synthetic_sweep(
    directory: str | Path, design: str = "slices", seeds: int = 2, seed: int = 0
) -> Path:
    """Write ``results.csv`` and ``runs/<run_key>/result.json`` under ``directory``."""
    out = Path(directory)
    frame = synthetic_results(design, seeds, seed)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "results.csv", index=False)
    for record in frame.to_dict(orient="records"):
        run_dir = out / "runs" / str(record["run_key"])
        run_dir.mkdir(parents=True, exist_ok=True)
        result = {
            "status": "completed",
            "run_key": record["run_key"],
            "metrics": {k: record[k] for k in ("ce", "ppl", "acc", "js_mi", "token_jsd")},
            "miub": _breakdown(record),
        }
        (run_dir / "result.json").write_text(json.dumps(result))
    return out


def _breakdown(record: dict[str, Any], n_layers: int = 4) -> dict[str, Any]:
    """A capture-shaped breakdown: deeper layers and FFN modules get a higher js-mi."""
    modules = {}
    for layer in range(n_layers):
        for index, short in enumerate(MODULES):
            kind = "attention" if index < 4 else "ffn"
            value = record["js_mi"] * (0.6 + 0.25 * layer + (0.3 if kind == "ffn" else 0.0))
            name = f"model.layers.{layer}.{'self_attn' if kind == 'attention' else 'mlp'}.{short}"
            modules[name] = {
                "name": name,
                "layer": layer,
                "module_type": kind,
                "estimates": {"js-mi": {"name": "js-mi", "value": value, "stderr": 0.0}},
            }
    return {"estimators": ["js-mi"], "modules": modules}
