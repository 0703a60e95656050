"""Real English text: the pydoc topics that ship with Python, split by topic.

Topics are assigned, by a stable hash of their name, to the cloze ``test``, ``validation``
and ``train`` splits (held out of pretraining) until each reaches its character budget; every
other topic is pretraining text, minus any paragraph that also occurs in a held-out topic (pydoc
repeats sections across topics, e.g. ``compound`` contains ``while``). The text is read from the snapshot shipped in the zoo assets
(``english/pydoc_topics.json.gz``) so the split does not change with the Python version;
without a snapshot it is read from :mod:`pydoc_data.topics`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from functools import cache
from pathlib import Path

SNAPSHOT_RELPATH = "english/pydoc_topics.json.gz"
HELD_OUT_CHARS = {"test": 70_000, "validation": 40_000, "train": 90_000}
"""Character budget of each held-out split (order matters: test is filled first)."""


def snapshot_path() -> Path:
    """Where the shipped snapshot of the pydoc topics lives (may not exist yet)."""
    # A path relative to this file, not importlib.resources: importing miub.zoo loads transformers.
    return Path(__file__).resolve().parent.parent / "zoo" / "assets" / SNAPSHOT_RELPATH


@cache
def load_topics() -> dict[str, str]:
    """``{topic: text}`` of the bundled English text (snapshot if shipped, else live pydoc)."""
    path = snapshot_path()
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return dict(json.load(handle))
    from pydoc_data.topics import topics

    return dict(sorted(topics.items()))


def write_snapshot(path: Path) -> None:
    """Write the topics as gzipped JSON with a fixed mtime, so the file hash is reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(load_topics(), sort_keys=True, ensure_ascii=False).encode()
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(payload)


@cache
def split_topics() -> dict[str, dict[str, str]]:
    """``{"pretrain"|"train"|"validation"|"test": {topic: text}}``; disjoint, covering all."""
    topics = load_topics()
    order = sorted(topics, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    splits: dict[str, dict[str, str]] = {"pretrain": {}, "train": {}, "validation": {}, "test": {}}
    budgets = dict(HELD_OUT_CHARS)
    for topic in order:
        text = topics[topic]
        target = next(
            (s for s, left in budgets.items() if left > 0 and len(text) <= 2 * left), "pretrain"
        )
        splits[target][topic] = text
        if target != "pretrain":
            budgets[target] -= len(text)
    return splits


def _paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", text) if p.strip()]


@cache
def pretraining_english() -> tuple[str, ...]:
    """Pretraining English documents: the ``pretrain`` topics, each without the paragraphs
    that also occur (whitespace-normalised) in a held-out topic."""
    splits = split_topics()
    held_out = {
        " ".join(p.split())
        for split in ("train", "validation", "test")
        for text in splits[split].values()
        for p in _paragraphs(text)
    }
    documents = []
    for text in splits["pretrain"].values():
        kept = [p for p in _paragraphs(text) if " ".join(p.split()) not in held_out]
        documents.append("\n\n".join(kept).strip())
    return tuple(d for d in documents if d)
