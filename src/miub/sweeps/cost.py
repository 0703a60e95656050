"""A study's compute before it runs: tokens, FLOPs and GPU-hours of each run's training.

For a base model of ``N`` parameters (embeddings included), frozen, with ``N_lora`` LoRA
parameters, training on ``T`` tokens costs (Kaplan et al. 2020, §2.1; 6·N·T when all
weights train):

    forward                 2·N·T
    backward, activations   2·N·T          (frozen weights still pass gradients through)
    backward, weights       6·N_lora·T     (only the adapters; forward + backward of LoRA)
    FLOPs = (4·N + 6·N_lora)·T  (+ 2·N·T for recomputation with gradient checkpointing)
    T = data_size · epochs · tokens_per_example    (default: max_length, an upper bound)
    GPU-hours = FLOPs / (mfu · peak FLOP/s) / 3600

Evaluation (forward only, ~10–20 % more at the shipped settings) is not counted.
``N`` and the module shapes come from ``config.json`` (zoo, local dir or the Hugging Face
cache), else from :data:`KNOWN_CONFIGS`; unknown models get no estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from miub.sweeps.checks import read_model_config
from miub.sweeps.grid import PlannedRun

KNOWN_CONFIGS: dict[str, dict[str, Any]] = {  # the config.json fields used, from the hub
    "meta-llama/Meta-Llama-3-8B": dict(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8, vocab_size=128256,
        tie_word_embeddings=False,
    ),
    "microsoft/Phi-3-mini-4k-instruct": dict(
        hidden_size=3072, intermediate_size=8192, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32, vocab_size=32064,
        tie_word_embeddings=False,
    ),
    "Qwen/Qwen2.5-0.5B": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "Qwen/Qwen2.5-1.5B": dict(
        hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
        num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "Qwen/Qwen2.5-3B": dict(
        hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
        num_attention_heads=16, num_key_value_heads=2, vocab_size=151936,
        tie_word_embeddings=True,
    ),
    "Qwen/Qwen2.5-7B": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
        num_attention_heads=28, num_key_value_heads=4, vocab_size=152064,
        tie_word_embeddings=False,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class RunCost:
    """Estimated training cost of one run: parameters, tokens, FLOPs and GPU-hours."""

    parameters: int
    lora_parameters: int
    tokens: int
    flops: float
    gpu_hours: float


def module_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """``(in, out)`` of each decoder-layer Linear of a Llama-style config (Phi-3's fused
    ``qkv_proj`` / ``gate_up_proj`` included)."""
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    head_dim = config.get("head_dim") or hidden // heads
    return {
        "q_proj": (hidden, heads * head_dim),
        "k_proj": (hidden, kv_heads * head_dim),
        "v_proj": (hidden, kv_heads * head_dim),
        "qkv_proj": (hidden, (heads + 2 * kv_heads) * head_dim),
        "o_proj": (heads * head_dim, hidden),
        "gate_proj": (hidden, inner),
        "up_proj": (hidden, inner),
        "gate_up_proj": (hidden, 2 * inner),
        "down_proj": (inner, hidden),
    }


def parameters_from_config(config: dict[str, Any]) -> int:
    """Weights of a Llama-style decoder: embeddings (+ untied head) + layers (norms and
    biases ignored, < 0.1 %)."""
    shapes = module_shapes(config)
    per_layer = sum(shapes[name][0] * shapes[name][1] for name in ("q_proj", "k_proj", "v_proj"))
    per_layer += sum(shapes[n][0] * shapes[n][1] for n in ("o_proj", "gate_proj", "up_proj"))
    per_layer += shapes["down_proj"][0] * shapes["down_proj"][1]
    embeddings = config["vocab_size"] * config["hidden_size"]
    heads = 1 if config.get("tie_word_embeddings", False) else 2
    return int(config["num_hidden_layers"] * per_layer + heads * embeddings)


def count_lora_parameters(config: dict[str, Any], rank: int, target_modules: list[str]) -> int:
    """``rank · (in + out)`` summed over the targeted Linears of every layer."""
    shapes = module_shapes(config)
    per_layer = sum(rank * sum(shapes[name]) for name in target_modules if name in shapes)
    return int(config["num_hidden_layers"] * per_layer)


def estimate_run_cost(
    run: PlannedRun,
    model_config: dict[str, Any],
    *,
    mfu: float,
    peak_tflops: float,
    tokens_per_example: int | None = None,
) -> RunCost:
    """The cost of ``run`` by the formulas of the module docstring."""
    config = run.config
    parameters = parameters_from_config(model_config)
    lora = count_lora_parameters(model_config, config.rank, config.target_modules)
    per_example = tokens_per_example or config.max_length
    tokens = int(config.data_size * config.epochs * per_example)
    per_token = 4 * parameters + 6 * lora + (2 * parameters if config.gradient_checkpointing else 0)
    flops = float(per_token) * tokens
    gpu_hours = flops / (mfu * peak_tflops * 1e12) / 3600
    return RunCost(parameters, lora, tokens, flops, gpu_hours)


def model_config_for_cost(model: str) -> dict[str, Any] | None:
    """A config with the fields :func:`parameters_from_config` needs, or None if unknown."""
    try:
        config = read_model_config(model)
    except LookupError:
        config = None
    config = config or KNOWN_CONFIGS.get(model)
    needed = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads")
    if config is None or not all(config.get(key) for key in (*needed, "vocab_size")):
        return None
    return config
