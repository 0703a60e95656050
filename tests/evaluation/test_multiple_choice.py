"""evaluate_multiple_choice against hand-computed log-likelihoods and lm-evaluation-harness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from miub.errors import MiubUserError
from miub.evaluation import encode_pair, evaluate_multiple_choice, mean_stderr


def direct_loglik(model, tokenizer, context: str, choice: str) -> tuple[float, int]:
    """Unbatched reference: encode context and context + " " + choice with the tokenizer's
    own special tokens, score the extra tokens with one forward and a log-softmax gather."""
    context_ids = tokenizer(context.rstrip()).input_ids
    whole_ids = tokenizer(context + " " + choice).input_ids
    continuation = whole_ids[len(context_ids) :]
    with torch.no_grad():
        logits = model(torch.tensor([whole_ids[:-1]])).logits[0]  # (T, V)
    log_probs = F.log_softmax(logits.double(), dim=-1)[-len(continuation) :]
    picked = log_probs.gather(-1, torch.tensor(continuation)[:, None])
    return float(picked.sum()), len(continuation)


def test_matches_hand_computed_logliks(tiny_model, tiny_tokenizer, examples) -> None:
    result = evaluate_multiple_choice(
        tiny_model, tiny_tokenizer, examples, batch_size=5, return_logliks=True
    )
    expected = [
        [direct_loglik(tiny_model, tiny_tokenizer, e["context"], c)[0] for c in e["choices"]]
        for e in examples
    ]
    np.testing.assert_allclose(result["logliks"], expected, rtol=1e-5, atol=1e-4)
    acc = [float(np.argmax(lls) == e["label"]) for lls, e in zip(expected, examples, strict=True)]
    acc_norm = [
        float(np.argmax(np.array(lls) / [len(c) for c in e["choices"]]) == e["label"])
        for lls, e in zip(expected, examples, strict=True)
    ]
    assert result["acc"] == pytest.approx(np.mean(acc))
    assert result["acc_norm"] == pytest.approx(np.mean(acc_norm))
    assert result["acc_stderr"] == pytest.approx(np.std(acc, ddof=1) / math.sqrt(len(acc)))
    assert result["n"] == len(examples)
    gold = [
        direct_loglik(tiny_model, tiny_tokenizer, e["context"], e["choices"][e["label"]])
        for e in examples
    ]
    expected_ce = -sum(ll for ll, _ in gold) / sum(n for _, n in gold)
    assert result["ce"] == pytest.approx(expected_ce, rel=1e-5)
    assert result["ppl"] == pytest.approx(math.exp(expected_ce), rel=1e-5)


def test_batch_size_does_not_change_scores(tiny_model, tiny_tokenizer, examples) -> None:
    one = evaluate_multiple_choice(tiny_model, tiny_tokenizer, examples, 1, return_logliks=True)
    many = evaluate_multiple_choice(tiny_model, tiny_tokenizer, examples, 64, return_logliks=True)
    np.testing.assert_allclose(one["logliks"], many["logliks"], rtol=1e-5, atol=1e-5)


def test_trailing_context_space_moves_to_continuation(tiny_tokenizer) -> None:
    with_space = encode_pair(tiny_tokenizer, "Q: red sky? ", " blue")
    without = encode_pair(tiny_tokenizer, "Q: red sky?", "  blue")
    assert with_space == without
    context_ids = tiny_tokenizer("Q: red sky?").input_ids
    assert with_space[0] == context_ids  # BOS (when the tokenizer adds one) stays in the context
    assert tiny_tokenizer.decode(with_space[1]) == "  blue"


def test_acc_norm_divides_by_characters(tiny_model, tiny_tokenizer) -> None:
    # acc_norm divides by len(choice) in characters, without the leading space.
    example = {"context": "Q: red?", "choices": ["sky", "sky sky sky"], "label": 1}
    result = evaluate_multiple_choice(tiny_model, tiny_tokenizer, [example], return_logliks=True)
    lls = np.array(result["logliks"][0])
    assert result["acc_norm"] == float(np.argmax(lls / np.array([3.0, 11.0])) == 1)
    assert math.isnan(result["acc_stderr"])  # n = 1: lm-eval's sample std is undefined


def test_mean_stderr_formula() -> None:
    assert mean_stderr([1.0, 0.0, 1.0, 1.0]) == pytest.approx(0.25)


def test_bad_examples_are_user_errors(tiny_model, tiny_tokenizer) -> None:
    with pytest.raises(MiubUserError, match="label"):
        evaluate_multiple_choice(
            tiny_model, tiny_tokenizer, [{"context": "a", "choices": ["x"], "label": 3}]
        )
    with pytest.raises(MiubUserError, match="no examples"):
        evaluate_multiple_choice(tiny_model, tiny_tokenizer, [])
