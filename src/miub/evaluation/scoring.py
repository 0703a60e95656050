"""Batched log-likelihood of the final tokens of token sequences (one forward per batch).

For a sequence ``x_0 … x_T`` whose last ``n`` tokens are scored, the model reads
``x_0 … x_{T-1}`` and the score is ``sum_{t=T-n+1}^{T} log p(x_t | x_<t)`` in nats — the
quantity lm-evaluation-harness's ``_loglikelihood_tokens`` returns. Batches are right-padded
with an attention mask, so the real tokens' logits are those of an unpadded forward (up to
float rounding) and a capture active on the model sees the mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SequenceScore:
    """Score of one sequence: summed log-probability (nats) of its ``n_tokens`` scored tokens,
    and whether every scored token is the model's greedy (argmax) prediction."""

    loglik: float
    n_tokens: int
    is_greedy: bool


def check_capture(capture: Any, model: nn.Module) -> None:
    """An evaluation's ``capture`` must be entered and hooked on the very module it calls
    (its forward pre-hook reads the attention mask that excludes padding)."""
    if capture is None:
        return
    if getattr(capture, "model", model) is not model:
        raise ValueError("the capture must be on the model being evaluated (capture(model, ...))")
    is_active = getattr(capture, "is_active", None)
    if callable(is_active) and not is_active():
        raise ValueError("the capture passed to an evaluation must be active (inside its `with`)")


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (the input embedding for HF models)."""
    return next(model.parameters()).device


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (no dropout) and restore its training flag on exit, even
    after an exception."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def score_sequences(
    model: nn.Module,
    sequences: Sequence[Sequence[int]],
    n_scored: Sequence[int],
    *,
    batch_size: int = 16,
    pad_token_id: int = 0,
    measured: Sequence[bool] | None = None,
    measure_mask: str | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[SequenceScore]:
    """Score the last ``n_scored[i]`` tokens of ``sequences[i]`` under ``model``.

    Sequences are processed longest first (less padding, as lm-eval does) and results are
    returned in input order. ``on_batch(n)`` is called after each batch of ``n`` sequences.
    The sum is taken in float32, like lm-eval's ``float(logits.sum())``.

    ``measure_mask``: a forward keyword (a capture's ``mask`` name) that receives a ``(B, T)``
    0/1 mask of the tokens of the sequences flagged in ``measured``; those sequences are
    batched first, so all but at most one batch are purely measured or purely not.
    """
    if len(sequences) != len(n_scored):
        raise ValueError("sequences and n_scored must have the same length")
    for sequence, n in zip(sequences, n_scored, strict=True):
        if not 0 < n < len(sequence):
            raise ValueError(f"cannot score {n} of {len(sequence)} tokens (need a prefix token)")
    device = model_device(model)
    flags = list(measured) if measured is not None else [True] * len(sequences)
    order = sorted(range(len(sequences)), key=lambda i: (not flags[i], -len(sequences[i])))
    scores: list[SequenceScore | None] = [None] * len(sequences)
    with eval_mode(model):  # dropout off while scoring; training flag restored
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            inputs = [list(sequences[i][:-1]) for i in batch]
            width = max(len(tokens) for tokens in inputs)
            input_ids = torch.full((len(batch), width), pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, tokens in enumerate(inputs):
                input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
                attention_mask[row, : len(tokens)] = 1
            kwargs = {
                "input_ids": input_ids.to(device),
                "attention_mask": attention_mask.to(device),
            }
            if measure_mask is not None:
                rows = torch.tensor([flags[i] for i in batch], dtype=torch.long)[:, None]  # (B, 1)
                kwargs[measure_mask] = (attention_mask * rows).to(device)
            logits = model(**kwargs).logits  # (B, T, V)
            for row, index in enumerate(batch):
                length, n = len(inputs[row]), n_scored[index]
                targets = torch.tensor(
                    sequences[index][-n:], dtype=torch.long, device=logits.device
                )
                log_probs = F.log_softmax(
                    logits[row, length - n : length].float(), dim=-1
                )  # (n, V)
                token_logprobs = log_probs.gather(-1, targets[:, None]).squeeze(-1)  # (n,)
                greedy = bool((log_probs.argmax(dim=-1) == targets).all())
                scores[index] = SequenceScore(float(token_logprobs.sum()), n, greedy)
            if on_batch is not None:
                on_batch(len(batch))
    return [score for score in scores if score is not None]
