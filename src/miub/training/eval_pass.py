"""One evaluation point of a run: ACC and MIUB in the same forwards, CE / PPL beside them.

* ACC, ``acc_norm`` (+ stderrs): lm-evaluation-harness scoring of the first
  ``eval_examples`` validation examples (:func:`miub.evaluation.evaluate_multiple_choice`).
  Partial-scoring tasks (WinoGrande) add ``acc_partial`` (+ stderr), lm-eval's own ACC for
  them (:func:`miub.evaluation.evaluate_partial_multiple_choice`); their ``acc`` scores the
  whole sentence after the blank.
* MIUB: every estimator of ``EvalConfig.estimators``, captured (:func:`miub.capture`)
  in those scoring forwards, on the tokens of the gold sequences ``context + " " + gold
  choice`` (each held-out example's text once; distractor sequences are forwarded for ACC
  but not measured).
* CE / PPL: answer-only cross-entropy, ``- sum log p(answer tokens) / #answer tokens`` (nats
  per token, token-weighted) of the gold answers ``" " + choices[label]`` of the first
  ``ce_examples`` validation examples — the held-out version of the training loss. When
  ``ce_examples == eval_examples`` it comes free from the scoring pass.

Metric names are flat: estimator ``js-mi`` gives ``js_mi``, ``js_mi_stderr`` and its extras
(``mi``, ``mi_stderr``, ...; prefixed ``js_mi_`` if two estimators share an extra's name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from miub.evaluation import (
    GOLD_MASK,
    evaluate_language_modeling,
    evaluate_multiple_choice,
    evaluate_partial_multiple_choice,
)
from miub.evaluation.scoring import eval_mode
from miub.training.config import EvalConfig


@dataclass(frozen=True)
class EvalPass:
    """Flat metrics (``acc``, ``ce``, ``js_mi``, ...), the MIUB breakdown of one pass
    (``CaptureResult.to_dict()``; None without estimators) and its wall time in seconds."""

    metrics: dict[str, float]
    miub: dict[str, Any] | None = None
    seconds: float = 0.0


def estimator_params(estimators: Sequence[str], eval_config: EvalConfig) -> dict[str, Any]:
    """The EvalConfig estimator parameters (k, tau, feature_map, seed) that at least one of
    ``estimators`` accepts (capture rejects parameters no estimator takes)."""
    from miub.estimators import get_spec

    wanted = {
        "k": eval_config.k,
        "tau": eval_config.tau,
        "feature_map": eval_config.feature_map,
        "seed": eval_config.estimator_seed,
    }
    accepted: set[str] = set()
    for name in estimators:
        accepted.update(get_spec(name).defaults)
    return {key: value for key, value in wanted.items() if key in accepted}


def metric_name(name: str) -> str:
    """``"js-mi"`` → ``"js_mi"`` (names usable as Python identifiers and logger keys)."""
    return name.replace("-", "_")


def flatten_capture(overall: Mapping[str, Any]) -> dict[str, float]:
    """Flat metrics from ``CaptureResult.overall`` (estimator → AggregateValue)."""
    metrics: dict[str, float] = {}
    for estimator, aggregate in overall.items():
        base = metric_name(estimator)
        metrics[base] = float(aggregate.value)
        metrics[f"{base}_stderr"] = float(aggregate.stderr)
    for estimator, aggregate in overall.items():
        for key, value in aggregate.extras.items():
            name = metric_name(key)
            if name in metrics:
                name = f"{metric_name(estimator)}_{name}"
            metrics[name] = float(value)
    return metrics


def run_eval_pass(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    eval_examples: Sequence[Mapping[str, Any]],
    ce_examples: Sequence[Mapping[str, Any]] | None,
    eval_config: EvalConfig,
    *,
    keep_modules: bool = True,
) -> EvalPass:
    """Evaluate ``model`` (a peft model when estimators are requested) in eval mode.

    ``ce_examples=None`` takes CE / PPL from the gold answers of ``eval_examples``.
    """
    import time

    start = time.perf_counter()
    with eval_mode(model):  # training flag restored even if evaluation fails
        miub: dict[str, Any] | None = None
        estimators = list(eval_config.estimators)
        if estimators:
            from miub.hooks import capture

            params = estimator_params(estimators, eval_config)
            with capture(model, estimators=estimators, mask=GOLD_MASK, **params) as active:
                scores = evaluate_multiple_choice(
                    model, tokenizer, eval_examples, eval_config.batch_size, capture=active
                )
                captured = active.result()
            miub = captured.to_dict()
            if not keep_modules:
                miub.pop("modules", None)
            metrics = flatten_capture(captured.overall)
        else:
            scores = evaluate_multiple_choice(
                model, tokenizer, eval_examples, eval_config.batch_size
            )
            metrics = {}
        ce = {"ce": scores["ce"], "ppl": scores["ppl"], "ce_tokens": scores["n_tokens"]}
        if ce_examples is not None:
            pairs = [(e["context"], " " + e["choices"][e["label"]]) for e in ce_examples]
            language = evaluate_language_modeling(model, tokenizer, pairs, eval_config.batch_size)
            ce = {"ce": language["ce"], "ppl": language["ppl"], "ce_tokens": language["n_tokens"]}
        summary = {
            "acc": scores["acc"],
            "acc_stderr": scores["acc_stderr"],
            "acc_norm": scores["acc_norm"],
            "acc_norm_stderr": scores["acc_norm_stderr"],
            "eval_examples": scores["n"],
            **ce,
        }
        if eval_examples and "partial_contexts" in eval_examples[0]:  # WinoGrande: lm-eval's acc
            partial = evaluate_partial_multiple_choice(
                model, tokenizer, eval_examples, eval_config.batch_size
            )
            summary["acc_partial"] = partial["acc"]
            summary["acc_partial_stderr"] = partial["acc_stderr"]
    return EvalPass({**summary, **metrics}, miub, time.perf_counter() - start)
