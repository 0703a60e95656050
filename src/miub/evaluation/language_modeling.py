"""Cross-entropy and perplexity on held-out text (docs/method.md §4).

    CE  = - sum_i sum_{t in S_i} log p(x_{i,t} | x_{i,<t}) / sum_i |S_i|     (nats per token)
    PPL = exp(CE)

Token-weighted (not a mean of per-text CEs). ``S_i`` is every token after the first for a
plain text, and only the continuation's tokens for a ``(context, continuation)`` pair (the
answer-only CE that training minimises). Texts longer than ``max_length`` tokens are cut
to their first ``max_length`` tokens (pairs keep their last ``max_length + 1`` tokens, as in
multiple-choice scoring).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from torch import nn
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from miub.errors import MiubUserError
from miub.evaluation.encoding import encode, encode_pair, model_max_length
from miub.evaluation.scoring import check_capture, score_sequences


def evaluate_language_modeling(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str | tuple[str, str]],
    batch_size: int = 16,
    max_length: int | None = None,
    capture: Any = None,
) -> dict[str, float | int]:
    """``ce`` (nats/token), ``ppl``, ``n_tokens`` (scored tokens) and ``n`` (texts).

    ``texts``: strings (all tokens after the first are scored; with a BOS-adding tokenizer
    that is every token of the text) or ``(context, continuation)`` pairs (continuation tokens
    only, split as lm-evaluation-harness splits them). ``capture``: an active capture on
    ``model``, which then measures MIUB in these forwards.
    """
    if not texts:
        raise MiubUserError("no texts to evaluate; pass at least one text")
    check_capture(capture, model)
    window = max_length or model_max_length(model, tokenizer)
    sequences: list[list[int]] = []
    n_scored: list[int] = []
    for text in texts:
        if isinstance(text, str):
            tokens = encode(tokenizer, text)[:window]
            if len(tokens) < 2:
                continue  # nothing to predict
            sequences.append(tokens)
            n_scored.append(len(tokens) - 1)
        else:
            context_enc, continuation_enc = encode_pair(tokenizer, text[0], text[1])
            n = min(len(continuation_enc), window)
            if n == 0:
                continue
            sequences.append((context_enc + continuation_enc)[-(window + 1) :])
            n_scored.append(n)
    if not sequences:
        raise MiubUserError("every text is shorter than two tokens; nothing to score")
    scores = score_sequences(
        model,
        sequences,
        n_scored,
        batch_size=batch_size,
        pad_token_id=int(tokenizer.pad_token_id or 0),
    )
    n_tokens = sum(score.n_tokens for score in scores)
    ce = -sum(score.loglik for score in scores) / n_tokens
    return {"ce": ce, "ppl": math.exp(ce), "n_tokens": n_tokens, "n": len(scores)}
