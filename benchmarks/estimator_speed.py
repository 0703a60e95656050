"""Cost of the estimators alone on CPU: ``update`` per batch and ``result()`` per module.

Prints one JSON object. For each estimator (default ``js-mi``, ``mi``, ``linear-cka``) at
``k`` (default 64) and ``d`` (default 1024), on random float32 batches of ``--tokens`` tokens:

- ``update_ms``: median time of ``update(base, lora, sequence_ids)`` (two sequences per batch,
  as the capture feeds a batch of 2 × 256 tokens);
- ``update_factored_ms``: the same through ``update_factored(base, inner, up)`` with a rank
  ``--rank`` LoRA (the capture's path for vanilla peft LoRA); ``None`` if not implemented;
- ``result_ms_2_groups`` / ``result_ms_16_groups``: median ``result()`` after one batch of 2
  sequences (2 of 16 jackknife groups filled) and after 16 sequences (every group filled);
- ``update_ms_per_1k_tokens``: ``update_factored_ms`` (or ``update_ms``) per 1000 tokens.

``floor_ms_16_groups`` is the cost, measured here, of the logarithms the js-mi / mi
statistics need as defined (docs/method.md §3.7): two float64 ``log`` per cell of the
``(1 + G') × 3`` joints ``k × k`` (value, null and ceiling for the full data and each
leave-one-group-out replicate), and ``result_over_floor`` the ratio of ``result_ms_16_groups``
to it, both measured in this process.

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/estimator_speed.py [--k 64 --d 1024]``.
Timings are noisy on a shared machine; compare ratios from one process only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from miub.estimators import make_estimator
from miub.interface import FactoredUpdate


def _median_ms(action: Callable[[], Any], repeats: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _batch(tokens: int, d: int, rank: int, seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    base = torch.randn(tokens, d, generator=generator)
    inner = torch.randn(tokens, rank, generator=generator)
    up = torch.randn(rank, d, generator=generator) / d**0.5
    return {"base": base, "inner": inner, "up": up, "lora": 0.3 * base + inner @ up}


def measure(name: str, k: int, d: int, tokens: int, rank: int, repeats: int) -> dict[str, Any]:
    """Timings of one estimator (see the module docstring)."""
    batch = _batch(tokens, d, rank, seed=0)
    two = torch.arange(tokens) * 2 // tokens  # (T,) two sequences
    sixteen = torch.arange(tokens) * 16 // tokens  # (T,) sixteen sequences
    estimator = make_estimator(name, k=k)
    update_ms = _median_ms(lambda: estimator.update(batch["base"], batch["lora"], two), repeats)
    factored_ms = None
    if isinstance(estimator, FactoredUpdate):
        factored = make_estimator(name, k=k)
        assert isinstance(factored, FactoredUpdate)
        factored_ms = _median_ms(
            lambda: factored.update_factored(batch["base"], batch["inner"], batch["up"], two),
            repeats,
        )
    timings: dict[str, float] = {}
    for label, ids in (("2_groups", two), ("16_groups", sixteen)):
        fresh = make_estimator(name, k=k)
        fresh.update(batch["base"], batch["lora"], ids)
        timings[label] = _median_ms(fresh.result, repeats)
    per_batch = factored_ms if factored_ms is not None else update_ms
    return {
        "update_ms": update_ms,
        "update_factored_ms": factored_ms,
        "update_ms_per_1k_tokens": per_batch * 1000 / tokens,
        "result_ms_2_groups": timings["2_groups"],
        "result_ms_16_groups": timings["16_groups"],
    }


def log_floor_ms(k: int, n_groups: int, repeats: int) -> float:
    """Two float64 logs per cell of (1 + G) x 3 joints of k x k cells (see docstring)."""
    cells = torch.rand(1 + n_groups, 3, k, k, dtype=torch.float64) + 1e-3

    def logs() -> None:
        torch.log(cells)
        torch.log(cells)

    return _median_ms(logs, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimators", nargs="+", default=["js-mi", "mi", "linear-cka"])
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--d", type=int, default=1024)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    results = {
        name: measure(name, args.k, args.d, args.tokens, args.rank, args.repeats)
        for name in args.estimators
    }
    floor = log_floor_ms(args.k, 16, args.repeats)
    for name in ("js-mi", "mi"):
        if name in results:
            results[name]["result_over_floor"] = results[name]["result_ms_16_groups"] / floor
    setup = {key: getattr(args, key) for key in ("k", "d", "tokens", "rank", "repeats")}
    setup["torch_threads"] = torch.get_num_threads()
    print(json.dumps({"setup": setup, "floor_ms_16_groups": floor, "results": results}, indent=2))


if __name__ == "__main__":
    main()
