"""`miub measure`: MIUB (every requested estimator), LM CE and LM PPL of a model + LoRA
adapter on a data file, in one streaming pass with bounded memory.

LM CE is the language-modelling cross-entropy over *every* token of each text (nats/token).
It is not the ``ce`` of ``miub train`` / ``results.csv`` (the metric registry's ``ce``: the
cross-entropy of the *answer* tokens of held-out task examples), so it is named differently:
``lm_ce`` and ``lm_ppl`` in the result (``ce`` / ``ppl`` remain as deprecated aliases of the
same numbers for older readers). The texts are scored in chunks; LM CE is the token-weighted
mean over chunks, ``LM_CE = sum_c CE_c * n_c / sum_c n_c``, ``LM_PPL = exp(LM_CE)``. The
capture stays active over every chunk, so MIUB sees exactly the tokens LM CE is computed on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from miub.data_files import read_jsonl
from miub.errors import MiubUserError
from miub.provenance import provenance

ProgressCallback = Callable[[int, int], None]  # (texts done, texts total)


@dataclass(frozen=True)
class MeasureSettings:
    """What to measure. ``estimator_params`` go to every estimator that accepts them."""

    model: str
    data: Path
    adapter: Path | None = None
    estimators: Sequence[str] = ("js-mi",)
    batch_size: int = 8
    max_tokens: int | None = None
    max_length: int | None = None  # tokens per text; None = min(512, the model's context)
    dtype: str = "float32"
    device: str = "auto"
    threads: int | None = 1  # torch CPU threads during the measurement; None = torch's setting
    skip_bad_lines: bool = False  # skip (and count) data lines that are not valid rows
    estimator_params: dict[str, Any] = field(default_factory=dict)


def select_token_budget(
    token_counts: Sequence[int], max_tokens: int | None, max_length: int
) -> int:
    """Number of leading texts whose (truncated) tokens fit in ``max_tokens`` (at least one)."""
    if max_tokens is None:
        return len(token_counts)
    total = 0
    for index, count in enumerate(token_counts):
        total += min(count, max_length)
        if total >= max_tokens:
            return index + 1
    return len(token_counts)


def _check_lora_modules(model: Any, settings: MeasureSettings) -> None:
    """Before the pass: the model has LoRA modules (else: pass ``--adapter``), and with
    ``--feature-map identity`` none is wider than the d x d state allows (else every chunk
    would run until the first batch fails inside the estimator)."""
    from miub.estimators.feature_maps import MAX_IDENTITY_DIM
    from miub.hooks.modules import find_lora_modules

    try:
        modules = find_lora_modules(model)
    except MiubUserError:
        if settings.adapter is not None:
            raise
        raise MiubUserError(
            f"--model {settings.model} has no LoRA modules; pass --adapter DIR (a peft"
            " save_pretrained dir) to measure an adapter"
        ) from None
    if settings.estimator_params.get("feature_map") == "identity":
        wide = [m for m in modules if m.out_features > MAX_IDENTITY_DIM]
        if wide:
            raise MiubUserError(
                f"--feature-map identity keeps a d x d state, allowed for d <= {MAX_IDENTITY_DIM};"
                f" {wide[0].name} has d = {wide[0].out_features} ({len(wide)} module(s) too"
                " wide); use --feature-map projection or topk with --k"
            )


def run_measurement(
    settings: MeasureSettings, on_progress: ProgressCallback | None = None
) -> dict[str, Any]:
    """Load the model (and adapter), stream the data through it under capture, return a
    JSON-able result: ``overall`` / ``by_module_type`` / ``by_layer`` / ``modules`` MIUB,
    ``lm_ce``, ``lm_ppl`` (all tokens; see the module doc), ``n_scored_tokens``, the
    settings and provenance.
    """
    import torch

    previous_threads = torch.get_num_threads()
    if settings.threads is not None:
        if settings.threads < 1:
            raise MiubUserError("--threads must be at least 1")
        torch.set_num_threads(settings.threads)
    try:
        return _run_measurement(settings, on_progress)
    finally:
        torch.set_num_threads(previous_threads)


def _run_measurement(
    settings: MeasureSettings, on_progress: ProgressCallback | None
) -> dict[str, Any]:
    from miub.evaluation import evaluate_language_modeling
    from miub.hooks import capture
    from miub.models.loading import load_adapter, load_model_and_tokenizer

    if settings.batch_size < 1:
        raise MiubUserError("--batch-size must be at least 1")
    if settings.max_tokens is not None and settings.max_tokens < 2:
        raise MiubUserError("--max-tokens must be at least 2")
    if settings.max_length is not None and settings.max_length < 2:
        raise MiubUserError("--max-length must be at least 2 tokens")
    dataset = read_jsonl(settings.data, skip_bad_lines=settings.skip_bad_lines)
    started = time.perf_counter()
    model, tokenizer = load_model_and_tokenizer(
        settings.model, dtype=settings.dtype, device=settings.device
    )
    context = getattr(model.config, "max_position_embeddings", None) or getattr(
        model.config, "n_positions", None
    )
    max_length = settings.max_length
    if max_length is None:
        max_length = min(512, context) if isinstance(context, int) else 512
    elif isinstance(context, int) and max_length > context:
        raise MiubUserError(
            f"--max-length {settings.max_length} exceeds the {context}-token context of"
            f" {settings.model}; pass --max-length {context} or less"
        )
    if settings.adapter is not None:
        model = load_adapter(model, settings.adapter)
    _check_lora_modules(model, settings)
    counts = [len(tokenizer(text)["input_ids"]) for text in dataset.texts]
    texts = dataset.texts[: select_token_budget(counts, settings.max_tokens, max_length)]

    chunk = settings.batch_size * 4
    weighted_ce, scored_tokens = 0.0, 0
    with capture(model, estimators=list(settings.estimators), **settings.estimator_params) as cap:
        for start in range(0, len(texts), chunk):
            part = evaluate_language_modeling(
                model,
                tokenizer,
                texts[start : start + chunk],
                batch_size=settings.batch_size,
                max_length=max_length,
                capture=cap,
            )
            weighted_ce += float(part["ce"]) * int(part["n_tokens"])
            scored_tokens += int(part["n_tokens"])
            if on_progress is not None:
                on_progress(min(start + chunk, len(texts)), len(texts))
    ce = weighted_ce / scored_tokens
    settings_record = asdict(settings)
    settings_record["data"] = str(settings.data)
    settings_record["adapter"] = str(settings.adapter) if settings.adapter else None
    settings_record["max_length"] = max_length  # as used
    return {
        "settings": settings_record,
        "data": {
            "kind": dataset.kind,
            "n_texts": len(texts),
            "sha256": dataset.sha256,
            "skipped_lines": dataset.skipped_lines,
        },
        "lm_ce": ce,
        "lm_ppl": math.exp(ce),
        "ce": ce,  # deprecated alias of lm_ce (not train's answer-token ce)
        "ppl": math.exp(ce),  # deprecated alias of lm_ppl
        "n_scored_tokens": scored_tokens,
        "miub": cap.result().to_dict(),
        "wall_s": time.perf_counter() - started,
        **provenance(),
    }
