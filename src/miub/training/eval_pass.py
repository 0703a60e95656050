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

Metric names are flat and come from the metric registry (:mod:`miub.metrics`, see
:func:`flatten_capture`): estimator ``js-mi`` gives ``js_mi``, ``js_mi_stderr``, its reference
points ``js_mi_null``, ``js_mi_ceiling``, ``js_mi_corrected``, ``js_mi_normalized`` (+
``js_mi_normalized_stderr``), and the registered metrics among its extras (``mi``, ``dpi``
and their stderrs).
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
from miub.interface import STDERR_SUFFIX
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


def _extra(extras: Mapping[str, float], key: str, column: str) -> float | None:
    """An aggregate's extra, reported either under its short key (``null``) or its column."""
    value = extras.get(key, extras.get(column))
    return None if value is None else float(value)


def flatten_capture(overall: Mapping[str, Any]) -> dict[str, float]:
    """Flat metrics from ``CaptureResult.overall`` (estimator → AggregateValue), named by the
    metric registry (:mod:`miub.metrics`).

    For estimator ``js-mi`` (column ``js_mi``): ``js_mi`` and its stderr column; the metrics the
    registry registers for it beside its value (the reference points ``js_mi_null``,
    ``js_mi_ceiling``, ``js_mi_corrected``, ``js_mi_normalized`` and their stderr columns),
    read from the extras under the point's name (``null``) or the column's; then every extra
    that is itself a registered metric computed from the same state (``mi``, ``dpi`` and their
    stderrs from js-mi), unless its own estimator was run too, whose value wins. Other extras
    stay in the MIUB breakdown only. An estimator outside the registry (a factory passed to
    ``miub.capture``) keeps ``<column>`` and ``<column>_stderr``.
    """
    from miub.metrics import column_name, get_metric, is_metric, list_metrics

    metrics: dict[str, float] = {}
    for estimator, aggregate in overall.items():
        column = column_name(estimator)
        metrics[column] = float(aggregate.value)
        stderr_column = get_metric(column).stderr_column if is_metric(column) else None
        metrics[stderr_column or f"{column}{STDERR_SUFFIX}"] = float(aggregate.stderr)
        for spec in list_metrics():
            if spec.estimator != estimator or spec.name == column:
                continue
            point = spec.name.removeprefix(f"{column}_")
            value = _extra(aggregate.extras, point, spec.name)
            if value is None:
                continue
            metrics[spec.name] = value
            if spec.stderr_column:
                error = _extra(aggregate.extras, f"{point}{STDERR_SUFFIX}", spec.stderr_column)
                if error is not None:
                    metrics[spec.stderr_column] = error
    for aggregate in overall.values():
        for key, value in aggregate.extras.items():
            if key in metrics or not is_metric(key) or column_name(key) != key:
                continue
            spec = get_metric(key)
            if spec.kind == "external":
                continue
            metrics[key] = float(value)
            error_column = spec.stderr_column
            if error_column and error_column in aggregate.extras and error_column not in metrics:
                metrics[error_column] = float(aggregate.extras[error_column])
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
