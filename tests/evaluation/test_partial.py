"""Partial (WinoGrande) scoring: option k's context, the shared continuation scored."""

from __future__ import annotations

import numpy as np
import pytest

from miub.errors import MiubUserError
from miub.evaluation import evaluate_multiple_choice, evaluate_partial_multiple_choice
from miub.tasks.benchmarks import winogrande

ROWS = [
    {
        "sentence": "red apple so _ is sky blue.",
        "option1": "river",
        "option2": "stone",
        "answer": "1",
    },
    {"sentence": "_ green cherry banana.", "option1": "yellow", "option2": "red", "answer": "2"},
]


def test_partial_scoring_compares_each_contexts_loglik_of_the_continuation(
    tiny_model, tiny_tokenizer
) -> None:
    examples = [winogrande(row).to_example() for row in ROWS]
    result = evaluate_partial_multiple_choice(tiny_model, tiny_tokenizer, examples, batch_size=3)
    correct = []
    for example in examples:
        # reference: each (context_k, " " + continuation) pair scored as a one-choice question
        single = [
            {"context": context, "choices": [example["continuation"]], "label": 0}
            for context in example["partial_contexts"]
        ]
        logliks = evaluate_multiple_choice(tiny_model, tiny_tokenizer, single, return_logliks=True)
        lls = [row[0] for row in logliks["logliks"]]
        correct.append(float(np.argmax(lls) == example["label"]))
    assert result["acc"] == pytest.approx(np.mean(correct), abs=1e-12)
    assert result["n"] == 2


def test_examples_without_partial_contexts_are_refused(tiny_model, tiny_tokenizer) -> None:
    with pytest.raises(MiubUserError, match="partial_contexts"):
        evaluate_partial_multiple_choice(
            tiny_model, tiny_tokenizer, [{"context": "a", "choices": ["b", "c"], "label": 0}]
        )


def test_an_eval_pass_on_partial_examples_adds_lm_evals_acc(tiny_model, tiny_tokenizer) -> None:
    from miub.training.config import EvalConfig
    from miub.training.eval_pass import run_eval_pass

    examples = [winogrande(row).to_example() for row in ROWS]
    config = EvalConfig(estimators=[], batch_size=4)
    metrics = run_eval_pass(tiny_model, tiny_tokenizer, examples, None, config).metrics
    expected = evaluate_partial_multiple_choice(tiny_model, tiny_tokenizer, examples)
    assert metrics["acc_partial"] == expected["acc"]
