"""A synthetic runner: deterministic numbers computed from the config, in milliseconds.

For testing sweeps end to end (resume, failure isolation, executors, clusters) without
training anything: ``miub sweep STUDY.yaml --out DIR --runner miub.sweeps.synthetic:synthetic_run``.
Its metrics follow made-up saturating power laws in N, R and D plus seeded noise, so they
have the shape of real results; they mean nothing. Two environment variables help tests:
``MIUB_SYNTHETIC_SLEEP`` (seconds to sleep per run) and ``MIUB_SYNTHETIC_FAIL_RANKS``
(comma-separated ranks whose runs raise an error).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

from miub.training.config import TrainConfig, run_key


def pseudo_parameter_count(model: str) -> int:
    """A stable stand-in parameter count in [1e5, 1e7) derived from the model name."""
    digest = int(hashlib.sha256(model.encode()).hexdigest()[:8], 16)
    return int(10 ** (5 + 2 * digest / 16**8))


def synthetic_run(config: TrainConfig, run_dir: Path) -> dict[str, Any]:
    """Compute a result dict shaped like ``run_training``'s and write ``run_dir/result.json``."""
    sleep_s = float(os.environ.get("MIUB_SYNTHETIC_SLEEP", "0") or 0)
    if sleep_s > 0:
        time.sleep(sleep_s)
    failing = {int(r) for r in os.environ.get("MIUB_SYNTHETIC_FAIL_RANKS", "").split(",") if r}
    if config.rank in failing:
        raise RuntimeError(f"synthetic failure for rank {config.rank}")
    key = run_key(config)
    noise = random.Random(key)
    n = pseudo_parameter_count(config.model)
    r, d = config.rank, config.data_size

    def jitter(scale: float) -> float:
        return scale * noise.gauss(0.0, 1.0)

    ce = 1.2 + 30 * n**-0.3 + 4 * d**-0.4 + 0.2 * r**-0.5 + jitter(0.01)
    acc = min(1.0, max(0.0, 1.0 - 0.6 * math.exp(-ce + 1.0) + jitter(0.01)))
    js_mi = 0.05 + 0.3 * n**-0.1 * r**-0.2 * d**-0.1 + jitter(0.002)
    metrics = {
        "ce": ce,
        "ppl": math.exp(ce),
        "acc": acc,
        "acc_norm": min(1.0, acc + 0.01),
        "js_mi": js_mi,
        "js_mi_stderr": abs(jitter(0.001)) + 1e-4,
        "mi": 1.3 * js_mi,
        "mi_stderr": abs(jitter(0.001)) + 1e-4,
        "dpi": 2.0 * js_mi,
        "dpi_stderr": abs(jitter(0.001)) + 1e-4,
    }
    result: dict[str, Any] = {
        "config": config.model_dump(mode="json"),
        "run_key": key,
        "metrics": metrics,
    }
    result["n_params"] = n
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "result.json").write_text(json.dumps(result, indent=2))
    return result
