"""Partial multiple-choice scoring (lm-evaluation-harness's WinoGrande scoring).

Option ``k`` changes the context, not the continuation: for contexts ``c_1 … c_K`` (the
sentence up to the blank with option ``k`` filled in) and the shared continuation ``s``
(the rest of the sentence),

    ll_k = sum over the tokens of " " + s of log p(token | c_k, earlier tokens)   (nats)
    acc  = 1[argmax_k ll_k == y],   acc_stderr = sample std / sqrt(n)

(lm-eval's ``multiple_input`` requests; Sakaguchi et al. 2020 call it partial scoring).
Examples are :mod:`miub.tasks.benchmarks` WinoGrande examples: ``partial_contexts``,
``continuation`` and ``label``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from miub.errors import MiubUserError
from miub.evaluation.encoding import encode_pair, model_max_length
from miub.evaluation.multiple_choice import TARGET_DELIMITER, mean_stderr
from miub.evaluation.scoring import score_sequences


def evaluate_partial_multiple_choice(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Mapping[str, Any]],
    batch_size: int = 16,
    *,
    max_length: int | None = None,
) -> dict[str, Any]:
    """``acc``, ``acc_stderr`` and ``n`` of ``examples`` under partial scoring (see above)."""
    if not examples:
        raise MiubUserError("no examples to evaluate; pass at least one partial-scoring example")
    window = max_length or model_max_length(model, tokenizer)
    sequences: list[list[int]] = []
    n_scored: list[int] = []
    for number, example in enumerate(examples):
        contexts = example.get("partial_contexts")
        if not isinstance(contexts, list | tuple) or not contexts:
            raise MiubUserError(f"example {number}: no 'partial_contexts' (not a partial task)")
        for context in contexts:
            context_enc, continuation_enc = encode_pair(
                tokenizer, context, TARGET_DELIMITER + example["continuation"]
            )
            sequences.append((context_enc + continuation_enc)[-(window + 1) :])
            n_scored.append(min(len(continuation_enc), window))
    scores = score_sequences(
        model,
        sequences,
        n_scored,
        batch_size=batch_size,
        pad_token_id=int(tokenizer.pad_token_id or 0),
    )
    correct, position = [], 0
    for example in examples:
        n_options = len(example["partial_contexts"])
        logliks = [score.loglik for score in scores[position : position + n_options]]
        position += n_options
        correct.append(1.0 if int(np.argmax(logliks)) == int(example["label"]) else 0.0)
    return {"acc": float(np.mean(correct)), "acc_stderr": mean_stderr(correct), "n": len(examples)}
