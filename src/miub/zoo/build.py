"""``miub zoo build``: re-create the zoo assets from scratch, reproducibly.

Steps: write the English snapshot, build the corpus (seeded world + pydoc English), train the
tokenizer on it, encode the corpus into one token stream, pretrain every size with the same
data, seed and token budget, save each as a Hugging Face model folder (safetensors +
tokenizer), and write ``manifest.json`` with sizes, hashes, losses and wall times. Each model
is also scored zero-shot on ``recall`` and ``cloze`` (test splits) with the calibration scorer
of :mod:`miub.zoo.scoring`, so the manifest shows that larger models know more facts.
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

from miub.tasks import get as get_task
from miub.tasks.corpus import build_corpus
from miub.tasks.english import SNAPSHOT_RELPATH, snapshot_path, write_snapshot
from miub.tasks.world import default_world
from miub.zoo.pretrain import PretrainSettings, llama_config, pretrain
from miub.zoo.registry import MANIFEST, sha256_file
from miub.zoo.scoring import multiple_choice_accuracy
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


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(all parameters, parameters outside the tied token embedding)."""
    total = sum(p.numel() for p in model.parameters())
    embedding = model.get_input_embeddings().weight.numel()  # type: ignore[operator]
    return total, total - embedding


def build_zoo(
    out: Path,
    specs: Sequence[ModelSpec] = MODEL_SPECS,
    settings: PretrainSettings | None = None,
    on_step: StepCallback | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build every model in ``specs`` into ``out`` and return the manifest written there."""
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

    recall = get_task("recall").test()
    cloze = get_task("cloze").test()
    models: dict[str, Any] = {}
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
        if folder.exists():
            shutil.rmtree(folder)
        result.model.save_pretrained(folder, safe_serialization=True)
        tokenizer.save_pretrained(folder)
        total, non_embedding = count_parameters(result.model)
        entry = {
            "parameters": total,
            "non_embedding_parameters": non_embedding,
            "spec": spec.to_dict(),
            "corpus_sha256": corpus.sha256,
            "pretraining_tokens": result.tokens,
            "final_loss": round(result.final_loss, 4),
            "wall_seconds": round(result.wall_seconds, 1),
            "zero_shot": {
                "recall_acc": round(multiple_choice_accuracy(result.model, tokenizer, recall), 4),
                "cloze_acc": round(multiple_choice_accuracy(result.model, tokenizer, cloze), 4),
                "n_recall": len(recall),
                "n_cloze": len(cloze),
                "scorer": "miub.zoo.scoring.multiple_choice_accuracy (acc, summed loglik)",
            },
            "files": {f.name: sha256_file(f) for f in sorted(folder.iterdir()) if f.is_file()},
        }
        models[spec.name] = entry
        log(
            f"{spec.name}: {total} params, loss {entry['final_loss']}, "
            f"{entry['wall_seconds']} s, zero-shot {entry['zero_shot']}"
        )

    manifest = {
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
            **{k: v for k, v in vars(settings).items()},
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
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
