"""Multiple-choice accuracy scored exactly as lm-evaluation-harness scores it (docs/method.md §4).

For an example with context ``c``, choices ``a_1 … a_K`` and gold label ``y``:

    ll_k      = sum over the tokens of " " + a_k of log p(token | c, earlier tokens)   (nats)
    acc       = 1[argmax_k ll_k == y]
    acc_norm  = 1[argmax_k ll_k / len(a_k) == y]        len in characters, without the space
    *_stderr  = sample std / sqrt(n)                     (lm-eval's ``mean_stderr``)

Ties go to the first choice (``numpy.argmax``). Tokenisation: :mod:`miub.evaluation.encoding`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from miub.errors import MiubUserError
from miub.evaluation.encoding import encode_pair, model_max_length
from miub.evaluation.scoring import check_capture, score_sequences

TARGET_DELIMITER = " "  # lm-eval's default ``target_delimiter``
GOLD_MASK = "miub_gold_mask"  # capture(model, mask=GOLD_MASK): MIUB on gold sequences only


def mean_stderr(values: Sequence[float]) -> float:
    """Standard error of a mean: ``sqrt(sum (x - mean)^2 / (n - 1)) / sqrt(n)``; NaN if n < 2."""
    n = len(values)
    if n < 2:
        return math.nan
    return float(np.std(np.asarray(values, dtype=np.float64), ddof=1) / math.sqrt(n))


def build_requests(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping[str, Any]],
    max_length: int,
) -> tuple[list[list[int]], list[int]]:
    """Token sequences (``context_enc + continuation_enc``, left-truncated to
    ``max_length + 1`` tokens like lm-eval) and continuation lengths, one per (example, choice)
    in example-major order."""
    sequences: list[list[int]] = []
    n_scored: list[int] = []
    for number, example in enumerate(examples):
        _check_example(example, number)
        for choice in example["choices"]:
            context_enc, continuation_enc = encode_pair(
                tokenizer, example["context"], TARGET_DELIMITER + choice
            )
            if not continuation_enc:
                raise MiubUserError(f"example {number}: choice {choice!r} encodes to no tokens")
            if len(continuation_enc) > max_length:
                raise MiubUserError(
                    f"example {number}: choice is {len(continuation_enc)} tokens, longer than "
                    f"the model's {max_length}-token window"
                )
            sequences.append((context_enc + continuation_enc)[-(max_length + 1) :])
            n_scored.append(len(continuation_enc))
    return sequences, n_scored


def evaluate_multiple_choice(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping[str, Any]],
    batch_size: int = 16,
    capture: Any = None,
    *,
    max_length: int | None = None,
    return_logliks: bool = False,
) -> dict[str, Any]:
    """Score ``examples`` (``{"context": str, "choices": [str], "label": int}``).

    Returns ``acc``, ``acc_stderr``, ``acc_norm``, ``acc_norm_stderr``, ``n`` (examples) and
    the gold answers' cross-entropy ``ce`` (nats per answer token, token-weighted over the
    tokens of ``" " + choices[label]``), ``ppl = exp(ce)`` and ``n_tokens`` (gold answer
    tokens). With ``return_logliks``, ``logliks[i][k]`` is ``ll_k`` of example ``i``.

    ``capture``: an active :func:`miub.capture` on ``model``; the scoring forwards run
    inside it, so MIUB is measured in these very forwards (the caller owns its lifetime).
    Which tokens it sees depends on how the capture was opened: with
    ``capture(model, mask=GOLD_MASK)`` only the gold sequences ``context + " " + gold
    choice`` (each example's text once, as on held-out data); with the default mask every
    forwarded token (each context once per choice, distractors included). Padding never.
    ``max_length`` defaults to the model's context window (lm-eval's rule).
    """
    if not examples:
        raise MiubUserError("no examples to evaluate; pass at least one multiple-choice example")
    check_capture(capture, model)
    window = max_length or model_max_length(model, tokenizer)
    sequences, n_scored = build_requests(tokenizer, examples, window)
    mask_keyword = getattr(capture, "mask", None) if capture is not None else None
    measure_mask = mask_keyword if mask_keyword not in (None, "attention_mask") else None
    gold = [k == e["label"] for e in examples for k in range(len(e["choices"]))]
    scores = score_sequences(
        model,
        sequences,
        n_scored,
        batch_size=batch_size,
        pad_token_id=int(tokenizer.pad_token_id or 0),
        measured=gold if measure_mask else None,
        measure_mask=measure_mask,
    )

    correct, correct_norm, logliks = [], [], []
    gold_loglik, gold_tokens = 0.0, 0
    position = 0
    for example in examples:
        n_choices = len(example["choices"])
        example_scores = scores[position : position + n_choices]
        position += n_choices
        lls = np.array([score.loglik for score in example_scores])
        lengths = np.array([float(len(choice)) for choice in example["choices"]])
        label = int(example["label"])
        correct.append(1.0 if int(np.argmax(lls)) == label else 0.0)
        correct_norm.append(1.0 if int(np.argmax(lls / lengths)) == label else 0.0)
        gold_loglik += example_scores[label].loglik
        gold_tokens += example_scores[label].n_tokens
        logliks.append(lls.tolist())
    ce = -gold_loglik / gold_tokens
    result: dict[str, Any] = {
        "acc": float(np.mean(correct)),
        "acc_stderr": mean_stderr(correct),
        "acc_norm": float(np.mean(correct_norm)),
        "acc_norm_stderr": mean_stderr(correct_norm),
        "n": len(examples),
        "ce": ce,
        "ppl": math.exp(ce),
        "n_tokens": gold_tokens,
    }
    if return_logliks:
        result["logliks"] = logliks
    return result


def _check_example(example: Mapping[str, Any], number: int) -> None:
    choices = example.get("choices")
    if not isinstance(example.get("context"), str):
        raise MiubUserError(f"example {number}: 'context' must be a string")
    if not isinstance(choices, list | tuple) or len(choices) < 1:
        raise MiubUserError(f"example {number}: 'choices' must be a non-empty list of strings")
    if any(not isinstance(choice, str) or choice == "" for choice in choices):
        raise MiubUserError(f"example {number}: every choice must be a non-empty string")
    label = example.get("label")
    if not isinstance(label, int) or not 0 <= label < len(choices):
        raise MiubUserError(f"example {number}: 'label' must be an index into 'choices'")
