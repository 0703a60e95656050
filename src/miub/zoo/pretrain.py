"""Pretraining of one zoo model: a plain, seeded torch loop (AdamW, warmup + cosine decay).

Data: the corpus documents, each encoded and followed by ``</s>``, concatenated into one token
stream. Each epoch cuts the stream into ``seq_len`` windows from a random offset and visits
them in random order; batches of ``batch_size`` windows, causal-LM loss on every token.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from miub.zoo.specs import ModelSpec


@dataclass(frozen=True)
class PretrainSettings:
    """Settings shared by every size (the data, token budget and schedule are identical)."""

    steps: int = 1000
    batch_size: int = 8
    seq_len: int = 128
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        """Ranges checked before anything is built (one MiubUserError naming every bad one)."""
        from miub.errors import MiubUserError

        bad = [
            f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})"
            for name in ("steps", "batch_size", "seq_len")
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1
        ]
        if self.seed < 0:
            bad.append(f"--seed must be at least 0 (got {self.seed})")
        if bad:
            raise MiubUserError("; ".join(bad))

    @property
    def tokens(self) -> int:
        """Training tokens per model: ``steps * batch_size * seq_len``."""
        return self.steps * self.batch_size * self.seq_len


@dataclass(frozen=True)
class PretrainResult:
    """The trained model and what the manifest records about its training."""

    model: LlamaForCausalLM
    final_loss: float  # mean training loss over the last 5% of steps, nats/token
    loss_curve: list[float]  # mean training loss of each block of 5% of the steps
    wall_seconds: float
    tokens: int


def llama_config(
    spec: ModelSpec, vocab_size: int, pad_id: int, bos_id: int, eos_id: int
) -> LlamaConfig:
    """A plain Llama config for ``spec`` (tied embeddings, no biases, RoPE)."""
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=pad_id,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
    )


def learning_rate_at(step: int, settings: PretrainSettings, peak: float) -> float:
    """Linear warmup to ``peak``, then cosine decay to ``min_lr_fraction * peak``."""
    warmup = max(1, int(settings.warmup_fraction * settings.steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, settings.steps - warmup)
    floor = settings.min_lr_fraction
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def _batches(stream: torch.Tensor, settings: PretrainSettings, generator: torch.Generator):
    """Endless (batch_size, seq_len) batches: epoch = random offset + shuffled windows."""
    length = settings.seq_len
    while True:
        offset = int(torch.randint(0, length, (1,), generator=generator))
        n_windows = (stream.numel() - offset) // length
        windows = stream[offset : offset + n_windows * length].view(n_windows, length)
        order = torch.randperm(n_windows, generator=generator)
        for start in range(0, n_windows - settings.batch_size + 1, settings.batch_size):
            yield windows[order[start : start + settings.batch_size]]  # (B, T)


def pretrain(
    config: LlamaConfig,
    spec: ModelSpec,
    token_stream: Sequence[int] | torch.Tensor,
    settings: PretrainSettings,
    on_step: Callable[[int, float], None] | None = None,
) -> PretrainResult:
    """Train a fresh ``LlamaForCausalLM(config)`` for ``settings.steps`` steps from ``seed``."""
    torch.manual_seed(settings.seed)
    model = LlamaForCausalLM(config)
    model.train()
    stream = torch.as_tensor(token_stream, dtype=torch.long)
    generator = torch.Generator().manual_seed(settings.seed)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "embed" in n]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": settings.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=spec.learning_rate,
        betas=(0.9, 0.95),
    )
    tail = max(1, settings.steps // 20)
    tail_losses: list[float] = []
    block_losses: list[float] = []
    loss_curve: list[float] = []
    start = time.perf_counter()
    batches = _batches(stream, settings, generator)
    for step in range(settings.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, settings, spec.learning_rate)
        batch = next(batches)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        value = float(loss.detach())
        block_losses.append(value)
        if len(block_losses) == tail or step == settings.steps - 1:
            loss_curve.append(sum(block_losses) / len(block_losses))
            block_losses = []
        if step >= settings.steps - tail:
            tail_losses.append(value)
        if on_step is not None:
            on_step(step, value)
    model.eval()
    return PretrainResult(
        model=model,
        final_loss=sum(tail_losses) / len(tail_losses),
        loss_curve=loss_curve,
        wall_seconds=time.perf_counter() - start,
        tokens=settings.tokens,
    )
