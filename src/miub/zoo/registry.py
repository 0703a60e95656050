"""Finding, loading and verifying the shipped zoo models (reads ``assets/manifest.json``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miub.errors import MiubUserError
from miub.zoo import real_models

if TYPE_CHECKING:
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

MANIFEST = "manifest.json"


def assets_dir() -> Path:
    """The folder holding ``manifest.json``, ``tokenizer.json`` and one folder per model."""
    return Path(__file__).resolve().parent / "assets"


def sha256_file(file: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(root: Path | None = None) -> dict[str, Any]:
    """The parsed manifest (``{"models": {name: {...}}, "tokenizer": {...}, ...}``)."""
    file = (root or assets_dir()) / MANIFEST
    if not file.exists():
        raise MiubUserError(f"no zoo manifest at {file}; build the zoo with `miub zoo build`")
    return dict(json.loads(file.read_text()))


def names(root: Path | None = None) -> list[str]:
    """Model names, smallest parameter count first."""
    models = manifest(root)["models"]
    return sorted(models, key=lambda name: models[name]["parameters"])


def path(name: str, root: Path | None = None) -> Path:
    """The model's folder: a complete Hugging Face model dir (config, weights, tokenizer).

    A real model (:data:`miub.zoo.real_models.REAL_MODELS`) is its converted cache dir,
    converted from its package's GGUF on first use.
    """
    if root is None and name in real_models.REAL_MODELS:
        return real_models.ensure(name)
    valid = names(root)
    if name not in valid:
        everything = ", ".join([*valid, *real_models.REAL_MODELS])
        raise MiubUserError(f"unknown zoo model {name!r}; valid names: {everything}")
    return (root or assets_dir()) / name


def load(name: str, root: Path | None = None) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """``(model, tokenizer)`` of zoo model ``name``: ``from_pretrained`` on the shipped
    safetensors (no remote code), model in eval mode; the tokenizer has pad/bos/eos set."""
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    folder = path(name, root)
    model = LlamaForCausalLM.from_pretrained(folder, use_safetensors=True, trust_remote_code=False)
    model.eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder, trust_remote_code=False)
    return model, tokenizer


def verify(root: Path | None = None) -> list[str]:
    """Problems found (empty when every file listed in the manifest exists with its sha256)."""
    root = root or assets_dir()
    try:
        data = manifest(root)
    except MiubUserError as error:
        return [str(error)]
    expected: dict[str, str] = dict(data["tokenizer"]["files"])
    for name, entry in data["models"].items():
        expected.update({f"{name}/{file}": sha for file, sha in entry["files"].items()})
    problems = []
    for relative, sha in sorted(expected.items()):
        file = root / relative
        if not file.exists():
            problems.append(f"missing: {relative}")
        elif sha256_file(file) != sha:
            problems.append(f"sha256 mismatch: {relative}")
    return problems
