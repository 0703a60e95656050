"""The structured record of a run, ``result.json`` (written last: its presence = run finished).

Top-level keys: ``status``, ``run_key``, ``config``, ``metrics`` (flat, final evaluation:
``ce, ppl, acc, acc_norm, acc_stderr, acc_norm_stderr`` and per estimator e.g.
``js_mi, js_mi_stderr, mi, mi_stderr``), ``miub`` (overall / by_module_type / by_layer /
modules of the final evaluation), ``history`` (one flat dict per evaluation, with step and
epoch), ``n_params`` (base ``total`` and ``non_embedding``, LoRA ``trainable``),
``n_train_examples``, ``n_train_tokens`` (tokens of the D training sequences, one pass),
``n_train_answer_tokens``, ``tokens_seen`` (over all epochs), ``steps``, ``seed``,
``versions``, ``git_revision``, ``platform``, ``device``, ``created_utc``, ``timings``
(seconds: ``load_s``, ``train_s`` excluding evaluation, ``eval_s``, ``total_s``, and
``train_tokens_per_s``), ``model_provenance`` (for ``zoo:<real model>``: package, version,
GGUF sha256, quantisation, dequantised dtype; see :mod:`miub.zoo.real_models`). With
``eval.at_start`` the ``history`` starts with the step-0 (zero-shot) evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miub.jsonio import to_jsonable, write_json
from miub.provenance import provenance
from miub.training.config import TrainConfig, run_key
from miub.training.data import IGNORE_INDEX, EncodedExample
from miub.training.eval_pass import EvalPass
from miub.training.run_result import RunResult
from miub.zoo.real_models import provenance_for_spec

RESULT_FILE = "result.json"


def build_result(
    config: TrainConfig,
    *,
    final: EvalPass,
    history: list[dict[str, Any]],
    n_params: dict[str, int],
    n_trainable: int,
    dataset: Sequence[EncodedExample],
    tokens_seen: int,
    total_steps: int,
    timings: dict[str, float],
    device: str,
) -> dict[str, Any]:
    origin = provenance()
    return {
        "status": "completed",
        "run_key": run_key(config),
        "config": config.model_dump(mode="json"),
        "metrics": dict(final.metrics),
        "miub": final.miub,
        "history": history,
        "n_params": {**n_params, "trainable": n_trainable},
        "n_train_examples": len(dataset),
        "n_train_tokens": sum(len(example.input_ids) for example in dataset),
        "n_train_answer_tokens": sum(
            sum(label != IGNORE_INDEX for label in example.labels) for example in dataset
        ),
        "tokens_seen": tokens_seen,
        "steps": total_steps,
        "seed": config.seed,
        "versions": origin["versions"],
        "git_revision": origin["git_revision"],
        "platform": origin["platform"],
        "device": device,
        "created_utc": origin["created_utc"],
        "timings": timings,
        "model_provenance": provenance_for_spec(config.model),
    }


def write_result(result: dict[str, Any], out_dir: Path) -> Path:
    """Validate ``result`` as a :class:`~miub.training.run_result.RunResult` (a malformed
    record is a bug: pydantic's ValidationError) and write ``out_dir/result.json`` atomically
    as strict JSON (:mod:`miub.jsonio`: NaN / inf → null)."""
    record = RunResult.model_validate(to_jsonable(result))
    return write_json(out_dir / RESULT_FILE, record.model_dump(mode="json"))
