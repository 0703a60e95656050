"""CE / PPL: token-weighted mean of -log p over the scored tokens, against a direct forward."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from miub.errors import MiubUserError
from miub.evaluation import evaluate_language_modeling

TEXTS = ["red apple river", "sky", "blue banana stone cherry green sky river yellow", "Q: red?"]


def direct_nll(model, ids: list[int]) -> tuple[float, int]:
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]])).logits[0]  # (T, V)
    log_probs = F.log_softmax(logits.double(), dim=-1)
    return -float(log_probs.gather(-1, torch.tensor(ids[1:])[:, None]).sum()), len(ids) - 1


def test_text_ce_is_token_weighted(tiny_model, tiny_tokenizer) -> None:
    result = evaluate_language_modeling(tiny_model, tiny_tokenizer, TEXTS, batch_size=3)
    pieces = [direct_nll(tiny_model, tiny_tokenizer(t).input_ids) for t in TEXTS]
    pieces = [(nll, n) for nll, n in pieces if n > 0]
    expected = sum(nll for nll, _ in pieces) / sum(n for _, n in pieces)
    assert result["ce"] == pytest.approx(expected, rel=1e-5)
    assert result["ppl"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert result["n_tokens"] == sum(n for _, n in pieces)


def test_pairs_score_only_the_continuation(tiny_model, tiny_tokenizer) -> None:
    pairs = [("Q: red sky?", " blue"), ("Q: stone? ", "green apple")]
    result = evaluate_language_modeling(tiny_model, tiny_tokenizer, pairs)
    total, count = 0.0, 0
    for context, continuation in pairs:
        context_ids = tiny_tokenizer(context.rstrip()).input_ids
        whole = tiny_tokenizer(context + continuation).input_ids
        nll_whole, _ = direct_nll(tiny_model, whole)
        nll_context, _ = direct_nll(tiny_model, context_ids) if len(context_ids) > 1 else (0.0, 0)
        total += nll_whole - nll_context
        count += len(whole) - len(context_ids)
    assert result["ce"] == pytest.approx(total / count, rel=1e-4)
    assert result["n_tokens"] == count


def test_empty_input_is_a_user_error(tiny_model, tiny_tokenizer) -> None:
    with pytest.raises(MiubUserError):
        evaluate_language_modeling(tiny_model, tiny_tokenizer, [])
