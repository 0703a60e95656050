"""Calibrate the softmax temperature tau and the alphabet size k of ``js-mi`` (docs/method.md §3.5).

For every tau in ``--taus`` and k in ``--ks`` it measures, on data with a known rank effect:

- ``ceiling``: js-mi with the LoRA branch replaced by the base branch (the largest value);
- ``null`` and ``null_over_value``: the independence value (pairing broken) and its share of
  the plug-in value -- how much of the value is plug-in bias;
- ``dynamic_range`` = ceiling - null;
- ``jackknife_bias`` = (value - corrected) / value, the jackknife's estimate of the relative
  plug-in bias;
- ``rank_snr`` (and ``rank_snr_normalized``): the rank effect v(high rank) - v(low rank) in
  standard errors, the SE from the sequence-group jackknife of the *difference* (both ranks are
  measured on the same tokens, so their replicates are aligned).

Data:

- ``surrogate`` (default): the linear-Gaussian LoRA surrogate on sequences -- x_t = sqrt(rho) z_s
  + sqrt(1 - rho) e_t (a latent z_s shared by the tokens of sequence s), o = W0 x + c,
  l = B A x + sigma eps, with ranks r_low, r_high of equal per-direction strength;
- ``tiny-model`` (``--tiny-model``): a random 2-layer Llama (hidden ``--hidden``) whose LoRA
  adapters of rank r_low and r_high are trained ``--steps`` steps on a periodic token task;
  js-mi is averaged over its LoRA modules (mean of the modules' values; the replicates are
  averaged the same way).

Prints one JSON object: ``{"surrogate": [rows...], "tiny_model": [rows...], "settings": ...}``.

Usage (default: surrogate only, well under 3 min on one core)::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/estimator_calibration.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/estimator_calibration.py --tiny-model
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import torch

from miub.estimators import make_estimator
from miub.interface import EstimateResult


def _surrogate(
    d: int, n_sequences: int, length: int, rank: int, rho: float, sigma: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """base, lora (T, d) and sequence ids (T,) of the sequence surrogate (module docstring)."""
    data = torch.Generator().manual_seed(seed)
    ids = torch.arange(n_sequences).repeat_interleave(length)  # (T,)
    latent = torch.randn(n_sequences, d, generator=data)[ids]  # (T, d)
    x = math.sqrt(rho) * latent + math.sqrt(1 - rho) * torch.randn(len(ids), d, generator=data)
    w0 = torch.randn(d, d, generator=data) / math.sqrt(d)
    noise = torch.randn(len(ids), d, generator=data)
    adapter = torch.Generator().manual_seed(seed + 1)
    a = torch.randn(rank, d, generator=adapter) / math.sqrt(d)  # (r, d)
    b = torch.randn(d, rank, generator=adapter)  # (d, r): unit strength per direction
    return x @ w0.T + 0.5, x @ a.T @ b.T + sigma * noise, ids


def _estimate(
    base: torch.Tensor, lora: torch.Tensor, ids: torch.Tensor, **params: Any
) -> EstimateResult:
    estimator = make_estimator("js-mi", **params)
    for rows in torch.arange(len(base)).split(512):  # batches of whole sequences (512 = 32 x 16)
        estimator.update(base[rows], lora[rows], sequence_ids=ids[rows])
    return estimator.result()


def _jackknife_se(replicates: list[float]) -> float:
    g = len(replicates)
    mean = sum(replicates) / g
    return math.sqrt((g - 1) / g * sum((r - mean) ** 2 for r in replicates))


def _row(low: EstimateResult, high: EstimateResult, tau: float, k: int) -> dict[str, Any]:
    """Calibration figures from the low- and high-rank results on the same tokens."""

    def effect(key: str, low_value: float, high_value: float) -> tuple[float, float]:
        diff = [h - lo for h, lo in zip(high.replicates[key], low.replicates[key], strict=True)]
        se = _jackknife_se(diff)
        return high_value - low_value, (high_value - low_value) / se if se > 0 else math.nan

    rank_effect, rank_snr = effect("value", low.value, high.value)
    _, rank_snr_normalized = effect(
        "normalized", low.extras["normalized"], high.extras["normalized"]
    )
    out: dict[str, Any] = {"tau": tau, "k": k, "k_used": high.params["k"]}
    for label, result in (("low", low), ("high", high)):
        extras = result.extras
        out[f"value_{label}"] = result.value
        out[f"stderr_{label}"] = result.stderr
        out[f"normalized_{label}"] = extras["normalized"]
    extras = high.extras
    out.update(
        ceiling=extras["ceiling"],
        null=extras["null"],
        dynamic_range=extras["ceiling"] - extras["null"],
        null_over_value=extras["null"] / high.value,
        jackknife_bias=(high.value - extras["corrected"]) / high.value,
        rank_effect=rank_effect,
        rank_snr=rank_snr,
        rank_snr_normalized=rank_snr_normalized,
    )
    return out


def surrogate_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    def data(rank: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return _surrogate(
            args.d, args.sequences, args.length, rank, args.rho, args.sigma, args.seed
        )

    low, high = data(args.ranks[0]), data(args.ranks[1])
    rows = []
    for tau in args.taus:
        for k in args.ks:
            params: dict[str, Any] = {"tau": tau, "k": k, "seed": args.seed}
            rows.append(_row(_estimate(*low, **params), _estimate(*high, **params), tau, k))
    return rows


def _tiny_model_branches(
    rank: int, args: argparse.Namespace
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(base, lora, ids) of every LoRA module of a trained tiny Llama with adapter rank ``rank``."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    import miub

    torch.manual_seed(args.seed)
    config = LlamaConfig(
        vocab_size=48, hidden_size=args.hidden, intermediate_size=2 * args.hidden,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=64,
    )  # fmt: skip
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora_config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=targets)
    model = get_peft_model(LlamaForCausalLM(config), lora_config)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)

    def tokens(n: int, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        start = torch.randint(0, 40, (n, 1), generator=generator)
        step = torch.randint(1, 4, (n, 1), generator=generator)
        return (start + step * torch.arange(32)) % 40 + 3  # (n, 32)

    model.train()
    for step in range(args.steps):
        batch = tokens(16, 10_000 + step)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    recorders: list[_Recorder] = []

    def factory() -> _Recorder:
        recorders.append(_Recorder())
        return recorders[-1]

    with torch.no_grad(), miub.capture(model, estimators=[factory]):
        for batch in tokens(args.eval_sequences, 1).split(16):
            model(input_ids=batch)
    return [recorder.branches() for recorder in recorders]


class _Recorder:
    """Capture sink keeping one module's (base, lora, sequence_ids) rows."""

    name = "recorder"

    def __init__(self) -> None:
        self.rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        assert sequence_ids is not None
        self.rows.append((base.clone(), lora.clone(), sequence_ids.clone()))

    def result(self) -> EstimateResult:
        return EstimateResult(self.name, math.nan, math.nan, 0)

    def branches(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(torch.cat(parts) for parts in zip(*self.rows, strict=True))  # type: ignore[return-value]


def _mean_result(results: list[EstimateResult]) -> EstimateResult:
    """Mean over modules of value, extras and replicates (replicates are aligned by group)."""
    n = len(results)
    extras = {key: sum(r.extras[key] for r in results) / n for key in results[0].extras}
    replicates = {
        key: [sum(values) / n for values in zip(*(r.replicates[key] for r in results), strict=True)]
        for key in ("value", "normalized")
    }
    value = sum(r.value for r in results) / n
    return EstimateResult(
        "js-mi", value, _jackknife_se(replicates["value"]), results[0].n_tokens,
        results[0].params, extras, replicates=replicates,
    )  # fmt: skip


def tiny_model_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    low, high = (_tiny_model_branches(rank, args) for rank in args.ranks)
    rows = []
    for tau in args.taus:
        for k in args.ks:
            params: dict[str, Any] = {"tau": tau, "k": k, "seed": args.seed}
            low_result, high_result = (
                _mean_result([_estimate(*module, **params) for module in modules])
                for modules in (low, high)
            )
            rows.append(_row(low_result, high_result, tau, k))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--taus", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0])
    parser.add_argument("--ks", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--ranks", type=int, nargs=2, default=[4, 16])
    parser.add_argument("--d", type=int, default=256, help="surrogate output dimension")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--length", type=int, default=16)
    parser.add_argument("--rho", type=float, default=0.5, help="shared-latent share of x")
    parser.add_argument("--sigma", type=float, default=0.5, help="LoRA noise level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny-model", action="store_true", help="also trained tiny Llamas")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--eval-sequences", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    out: dict[str, Any] = {"settings": vars(args), "surrogate": surrogate_rows(args)}
    if args.tiny_model:
        out["tiny_model"] = tiny_model_rows(args)
    out["seconds"] = time.perf_counter() - started
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
