"""Overhead of ``miub.capture`` on a CPU eval pass, and its memory growth with eval size.

Prints one JSON object. Two modes:

- default (eval pass): see below.
- ``--single-batch``: the fixed cost of one capture — enter the ``with`` block, one forward of
  ``(--batch-size, --seq-len)`` tokens, ``cap.result()`` — against one plain forward, in
  alternating rounds (order flipped each round) after a warm-up. Reports the median
  ``enter_s``, ``forward_s``, ``result_s`` (and ``result_ms_per_module``; with 2 sequences
  only 2 of the 16 jackknife groups are filled, so ``result_ms_per_module_16_sequences`` also
  times ``result()`` on the same tokens as 16 sequences, every group filled), ``plain_s``,
  ``ratio`` = (enter + forward + result) / plain (targets: ≤ 1.25 at d = 256, ≤ 1.10 at
  d = 1024), and ``hooks_only_ratio``, the same with an estimator that does nothing (the cost
  of the hooks, branch split and bookkeeping alone, without any estimator math).

Eval-pass mode: For random Llama models (hidden size 1024 and 2048 by default, 2
layers, intermediate ≈ 2.7 × hidden, LoRA r=16 on q,k,v,o,gate,up,down, vocab 512 so the LM
head does not hide the per-layer cost), an *eval pass* is ``--batches`` forwards of
``(--batch-size, --seq-len)`` random tokens under ``torch.no_grad()``.

- ``time_ratio``: median wall time of an eval pass with the default capture (``js-mi``,
  including ``cap.result()``) ÷ median without, both measured in this process, alternating
  the two conditions for ``--repeats`` rounds after a warm-up. Targets: ≤ 1.08 at 1024, ≤ 1.04
  at 2048. ``cpu_time_ratio`` is the same with this process's CPU time, which other load on a
  shared machine disturbs less than wall time.
- ``memory``: peak resident set size (RSS, Linux ``VmHWM`` reset through
  ``/proc/self/clear_refs`` before each pass) of a capture pass over 1× and 10× the eval
  tokens, after one warm-up pass; ``growth`` = peak(10×) / peak(1×) − 1 (target ≤ 0.05). Also the bytes held by the
  estimators' tensor state (constant by design) and the growth of the peak *above* the RSS
  before the pass (activations + capture temporaries).

Usage: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead.py [--hidden 1024 2048]``,
``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/overhead.py --single-batch`` (d = 256 and 1024,
batch 2 × 256); on a GPU ``--device cuda --dtype bfloat16 --hidden 4096 --memory-hidden`` (no RSS probe).
Timings are noisy on a shared machine; compare ratios from one process only.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from miub.hooks import Capture, capture
from miub.interface import EstimateResult
from miub.training.config import DEFAULT_TARGET_MODULES

TARGETS = list(DEFAULT_TARGET_MODULES)  # q, k, v, o, gate, up, down
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def build_model(
    hidden: int, layers: int, rank: int, vocab: int, device: str = "cpu", dtype: str = "float32"
) -> nn.Module:
    """A random Llama (``dtype`` on ``device``, eval mode) with LoRA on attention and FFN."""
    intermediate = 64 * round(2.7 * hidden / 64)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        num_key_value_heads=hidden // 64,
        max_position_embeddings=4096,
    )
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, init_lora_weights=False)
    model = get_peft_model(LlamaForCausalLM(config), lora)
    model.to(device=device, dtype=getattr(torch, dtype))
    model.eval()
    return model


def make_batches(
    n: int, batch_size: int, seq_len: int, vocab: int, device: str = "cpu"
) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "input_ids": torch.randint(0, vocab, (batch_size, seq_len), generator=generator).to(
                device
            ),
            "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long, device=device),
        }
        for _ in range(n)
    ]


def eval_pass(model: nn.Module, batches: list[dict[str, Any]], captured: bool) -> Capture | None:
    """One eval pass; with ``captured`` the default estimator runs and is reduced at the end."""
    with torch.no_grad():
        if not captured:
            for batch in batches:
                model(**batch)
            return None
        with capture(model) as cap:
            for batch in batches:
                model(**batch)
        cap.result()
        return cap


def timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # GPU kernels are asynchronous: wait for them
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_time(model: nn.Module, batches: list[dict[str, Any]], repeats: int) -> dict[str, Any]:
    """Alternate plain and captured passes (order flipped each round); medians and ratios."""
    eval_pass(model, batches[:1], captured=False)
    eval_pass(model, batches[:1], captured=True)
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for round_index in range(repeats):
        order = (False, True) if round_index % 2 == 0 else (True, False)
        for with_capture in order:
            runs[with_capture].append(timed(partial(eval_pass, model, batches, with_capture)))
    wall = {key: statistics.median(t[0] for t in value) for key, value in runs.items()}
    cpu = {key: statistics.median(t[1] for t in value) for key, value in runs.items()}
    return {
        "plain_s": wall[False],
        "capture_s": wall[True],
        "time_ratio": wall[True] / wall[False],
        "cpu_time_ratio": cpu[True] / cpu[False],
        "paired_ratios": [c[0] / p[0] for c, p in zip(runs[True], runs[False], strict=True)],
    }


def _rss_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in {_STATUS}")


def _state_bytes(obj: Any, depth: int = 0) -> int:
    """Bytes of the tensors reachable from an estimator's attributes (two levels deep)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if depth > 2 or not hasattr(obj, "__dict__"):
        return 0
    return sum(_state_bytes(value, depth + 1) for value in vars(obj).values())


def measure_memory(model: nn.Module, batches: list[dict[str, Any]]) -> dict[str, Any]:
    """Peak RSS (KiB) of a capture pass over ``batches`` and over 10× as many."""
    out: dict[str, Any] = {"unit": "KiB", "method": "VmHWM after clear_refs=5 (peak RSS)"}
    eval_pass(model, batches, captured=True)  # warm-up: let the allocator reach steady state
    for label, factor in (("1x", 1), ("10x", 10)):
        gc.collect()
        before = _rss_kib("VmRSS")
        _CLEAR_REFS.write_text("5")
        cap = eval_pass(model, batches * factor, captured=True)
        peak = _rss_kib("VmHWM")
        assert cap is not None
        out[label] = {
            "tokens": cap.n_tokens_,
            "peak_rss": peak,
            "peak_above_start": peak - before,
            "estimator_state_bytes": sum(
                _state_bytes(estimator) for tap in cap.taps_ for estimator in tap.estimators
            ),
        }
        del cap  # the previous pass's estimator state must not be alive during the next one
    out["growth"] = out["10x"]["peak_rss"] / out["1x"]["peak_rss"] - 1
    out["growth_above_start"] = out["10x"]["peak_above_start"] / out["1x"]["peak_above_start"] - 1
    return out


class NoEstimator:
    """Receives the branches and does nothing: what capture costs without estimator math."""

    name = "none"

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        pass

    def update_factored(
        self,
        base: torch.Tensor,
        lora_inner: torch.Tensor,
        lora_up: torch.Tensor,
        sequence_ids: torch.Tensor | None = None,
    ) -> None:
        pass

    def result(self) -> EstimateResult:
        return EstimateResult(self.name, 0.0, 0.0, 0)


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def single_capture(model: nn.Module, batch: dict[str, Any], estimators: Any) -> list[float]:
    """Wall seconds of (enter, forward, result) of one capture of one batch."""
    with torch.no_grad():
        start = time.perf_counter()
        cap = capture(model, estimators=estimators)
        cap.__enter__()
        try:
            entered = time.perf_counter()
            model(**batch)
            _sync()
            forwarded = time.perf_counter()
            cap.result()
            _sync()
            reduced = time.perf_counter()
        finally:
            cap.__exit__(None, None, None)
    return [entered - start, forwarded - entered, reduced - forwarded]


def plain_forward(model: nn.Module, batch: dict[str, Any]) -> float:
    with torch.no_grad():
        start = time.perf_counter()
        model(**batch)
        _sync()
        return time.perf_counter() - start


def measure_single_batch(
    model: nn.Module, batch: dict[str, Any], repeats: int, n_modules: int
) -> dict[str, Any]:
    """Alternating rounds of (plain forward, default capture, hooks-only capture)."""
    conditions: list[tuple[str, Callable[[], Any]]] = [
        ("plain", partial(plain_forward, model, batch)),
        ("capture", partial(single_capture, model, batch, None)),
        ("hooks_only", partial(single_capture, model, batch, [NoEstimator])),
    ]
    for _, run in conditions:  # warm-up
        run()
    times: dict[str, list[Any]] = {name: [] for name, _ in conditions}
    for round_index in range(repeats):
        order = conditions if round_index % 2 == 0 else conditions[::-1]
        for name, run in order:
            times[name].append(run())
    plain = statistics.median(times["plain"])
    parts = {
        name: [statistics.median(t[i] for t in times[name]) for i in range(3)]
        for name in ("capture", "hooks_only")
    }
    enter, forward, result = parts["capture"]
    # the same tokens as 16 sequences: every jackknife group non-empty (17 evaluations)
    regrouped = {key: value.reshape(16, -1) for key, value in batch.items()}
    full_groups = statistics.median(
        single_capture(model, regrouped, None)[2] for _ in range(max(3, repeats // 2))
    )
    return {
        "plain_s": plain,
        "enter_s": enter,
        "forward_s": forward,
        "result_s": result,
        "result_ms_per_module": 1e3 * result / n_modules,
        "n_modules": n_modules,
        "result_ms_per_module_16_sequences": 1e3 * full_groups / n_modules,
        "ratio": statistics.median(sum(t) for t in times["capture"]) / plain,
        "hooks_only_ratio": statistics.median(sum(t) for t in times["hooks_only"]) / plain,
        "hooks_only_s": dict(zip(("enter", "forward", "result"), parts["hooks_only"], strict=True)),
        "paired_ratios": [
            sum(c) / p for c, p in zip(times["capture"], times["plain"], strict=True)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=None, help="default 1024 2048")
    parser.add_argument("--single-batch", action="store_true", help="fixed cost of one capture")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=None, help="default 4 (single: 2)")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batches", type=int, default=4, help="forwards per eval pass")
    parser.add_argument("--repeats", type=int, default=None, help="rounds (default 3, single: 7)")
    parser.add_argument("--memory-hidden", type=int, nargs="*", default=[1024])
    parser.add_argument("--device", default="cpu", help="cpu | cuda (peak RSS is CPU memory)")
    parser.add_argument("--dtype", default="float32", help="float32 | bfloat16 | float16")
    args = parser.parse_args()
    single = args.single_batch
    args.hidden = args.hidden or ([256, 1024] if single else [1024, 2048])
    args.batch_size = args.batch_size or (2 if single else 4)
    args.repeats = args.repeats or (7 if single else 3)

    torch.manual_seed(0)
    report: dict[str, Any] = {
        "setup": {**vars(args), "torch_threads": torch.get_num_threads()},
        "results": {},
    }
    for hidden in args.hidden:
        model = build_model(hidden, args.layers, args.rank, args.vocab, args.device, args.dtype)
        batches = make_batches(args.batches, args.batch_size, args.seq_len, args.vocab, args.device)
        if single:
            n_modules = len(TARGETS) * args.layers
            report["results"][str(hidden)] = measure_single_batch(
                model, batches[0], args.repeats, n_modules
            )
            del model
            gc.collect()
            continue
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        entry: dict[str, Any] = measure_time(model, batches, args.repeats)
        if args.device.startswith("cuda"):
            entry["cuda_peak_bytes"] = torch.cuda.max_memory_allocated()
        if hidden in args.memory_hidden:
            entry["memory"] = measure_memory(model, batches)
        report["results"][str(hidden)] = entry
        del model
        gc.collect()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
