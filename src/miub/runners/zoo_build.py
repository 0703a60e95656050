"""``miub zoo build``: re-create the zoo assets from scratch, reproducibly.

Steps: write the English snapshot, build the corpus (seeded world + pydoc English), train the
tokenizer on it, encode the corpus into one token stream, pretrain every size with the same
data, seed and token budget, save each as a Hugging Face model folder (safetensors +
tokenizer), and write ``manifest.json`` with sizes, hashes, losses and wall times. Each model
is also scored zero-shot on ``recall`` and ``cloze`` (test splits) with
:func:`miub.evaluation.evaluate_multiple_choice`, so the manifest shows that larger models
know more facts (the acceptance criterion of the zoo).
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import transformers

from miub.evaluation import evaluate_multiple_choice
from miub.models import count_parameters
from miub.tasks import get as get_task
from miub.tasks.corpus import build_corpus
from miub.tasks.english import SNAPSHOT_RELPATH, snapshot_path, write_snapshot
from miub.tasks.world import default_world
from miub.zoo.pretrain import PretrainSettings, llama_config, pretrain
from miub.zoo.registry import MANIFEST, sha256_file
from miub.zoo.specs import MODEL_SPECS, ModelSpec
from miub.zoo.tokenizer import train_tokenizer, wrap_tokenizer

StepCallback = Callable[[str, int, float], None]
"""Progress hook: (model name, step, training loss)."""


def encode_corpus(tokenizer: Any, documents: Sequence[str]) -> list[int]:
    """One token stream: every document's tokens followed by ``</s>``."""
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for ids in tokenizer(list(documents), add_special_tokens=False)["input_ids"]:
        stream += [*ids, eos]
    return stream


def _reusable_models(file: Path, corpus_sha: str, tokenizer_sha: str) -> dict[str, Any]:
    """Entries of an existing manifest in ``out`` built on the same corpus and tokenizer, so
    building a subset of sizes (``--sizes``) adds to the zoo instead of replacing it."""
    if not file.exists():
        return {}
    old = json.loads(file.read_text())
    same_tokenizer = old["tokenizer"]["files"].get("tokenizer.json") == tokenizer_sha
    if not same_tokenizer or old["corpus"]["sha256"] != corpus_sha:
        return {}
    return {name: entry for name, entry in old["models"].items() if (file.parent / name).is_dir()}


def zero_shot_scores(model: Any, tokenizer: Any) -> dict[str, Any]:
    """Zero-shot ``recall`` and ``cloze`` test accuracy (lm-eval scoring via
    :func:`miub.evaluation.evaluate_multiple_choice`), with recall split by popularity tier."""
    world = default_world()
    recall_questions = get_task("recall").questions("test")
    recall = evaluate_multiple_choice(
        model, tokenizer, [q.to_example() for q in recall_questions], return_logliks=True
    )
    cloze = evaluate_multiple_choice(model, tokenizer, get_task("cloze").test(), batch_size=32)
    by_tier: dict[int, list[float]] = {}
    for question, logliks in zip(recall_questions, recall["logliks"], strict=True):
        hit = float(max(range(len(logliks)), key=logliks.__getitem__) == question.label)
        by_tier.setdefault(world.popularity[question.subject], []).append(hit)
    return {
        "recall_acc": round(recall["acc"], 4),
        "recall_acc_stderr": round(recall["acc_stderr"], 4),
        "recall_acc_by_popularity": {
            str(tier): round(sum(hits) / len(hits), 4) for tier, hits in sorted(by_tier.items())
        },
        "cloze_acc": round(cloze["acc"], 4),
        "cloze_acc_stderr": round(cloze["acc_stderr"], 4),
        "n_recall": recall["n"],
        "n_cloze": cloze["n"],
        "split": "test",
        "scorer": "miub.evaluation.evaluate_multiple_choice (acc)",
    }


def _manifest(
    models: dict[str, Any],
    tokenizer: Any,
    out: Path,
    snapshot: Path,
    corpus: Any,
    stream: Sequence[int],
    settings: PretrainSettings,
) -> dict[str, Any]:
    """The manifest: per-model entries, tokenizer and snapshot hashes, corpus, settings."""
    return {
        "format": 1,
        "models": models,
        "tokenizer": {
            "type": "byte-level BPE",
            "vocab_size": len(tokenizer),
            "files": {
                "tokenizer.json": sha256_file(out / "tokenizer.json"),
                SNAPSHOT_RELPATH: sha256_file(snapshot),
            },
        },
        "corpus": {
            "sha256": corpus.sha256,
            "documents": len(corpus.documents),
            "characters": corpus.n_chars,
            "tokens": len(stream),
            "world_seed": default_world().seed,
        },
        "pretraining": {
            **vars(settings),
            "tokens_per_model": settings.tokens,
            "optimizer": "AdamW(betas=(0.9, 0.95)), warmup + cosine to 10%",
            "total_wall_seconds": round(sum(m["wall_seconds"] for m in models.values()), 1),
            "torch_threads": torch.get_num_threads(),
        },
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
        },
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def build_zoo(
    out: Path,
    specs: Sequence[ModelSpec] = MODEL_SPECS,
    settings: PretrainSettings | None = None,
    on_step: StepCallback | None = None,
    log: Callable[[str], None] = print,
    zero_shot: bool = True,
) -> dict[str, Any]:
    """Build every model in ``specs`` into ``out`` and return the manifest written there.
    ``zero_shot=False`` skips the zero-shot scoring (for quick smoke builds)."""
    settings = settings or PretrainSettings()
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    snapshot = out / SNAPSHOT_RELPATH
    if snapshot.resolve() != snapshot_path().resolve():
        if snapshot_path().exists():
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(snapshot_path(), snapshot)
        else:
            write_snapshot(snapshot)
    elif not snapshot.exists():
        write_snapshot(snapshot)

    corpus = build_corpus(default_world(), seed=settings.seed)
    raw_tokenizer = train_tokenizer(corpus.documents)
    raw_tokenizer.save(str(out / "tokenizer.json"))
    tokenizer = wrap_tokenizer(out / "tokenizer.json")
    stream = encode_corpus(tokenizer, corpus.documents)
    log(f"corpus {corpus.sha256[:12]}: {len(corpus.documents)} documents, {len(stream)} tokens")

    models = _reusable_models(out / MANIFEST, corpus.sha256, sha256_file(out / "tokenizer.json"))
    manifest: dict[str, Any] = {}
    for spec in specs:
        config = llama_config(
            spec,
            len(tokenizer),
            tokenizer.pad_token_id,
            tokenizer.bos_token_id,
            tokenizer.eos_token_id,
        )

        def step_hook(step: int, loss: float, name: str = spec.name) -> None:
            if on_step is not None:
                on_step(name, step, loss)

        result = pretrain(config, spec, stream, settings, on_step=step_hook)
        folder = out / spec.name
        staging = out / f".{spec.name}.building"  # the old folder stays until this one is whole
        shutil.rmtree(staging, ignore_errors=True)
        result.model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
        counts = count_parameters(result.model)
        total, non_embedding = counts["total"], counts["non_embedding"]
        entry = {
            "parameters": total,
            "non_embedding_parameters": non_embedding,
            "spec": spec.to_dict(),
            "corpus_sha256": corpus.sha256,
            "pretraining_tokens": result.tokens,
            "pretraining": {**vars(settings), "learning_rate": spec.learning_rate},
            "final_loss": round(result.final_loss, 4),
            "wall_seconds": round(result.wall_seconds, 1),
            "loss_curve": [round(value, 4) for value in result.loss_curve],
            "zero_shot": zero_shot_scores(result.model, tokenizer) if zero_shot else {},
            "files": {f.name: sha256_file(f) for f in sorted(folder.iterdir()) if f.is_file()},
        }
        models[spec.name] = entry
        log(
            f"{spec.name}: {total} params, loss {entry['final_loss']}, "
            f"{entry['wall_seconds']} s, zero-shot {entry['zero_shot']}"
        )
        models = dict(sorted(models.items(), key=lambda item: item[1]["parameters"]))
        manifest = _manifest(models, tokenizer, out, snapshot, corpus, stream, settings)
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    return manifest
