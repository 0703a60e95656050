"""The pretraining corpus: encyclopedia articles about the known entities, plus real English.

A known person gets ``world.popularity[person]`` articles; article ``r`` words each fact with
paraphrase ``r + i`` of its relation (so every fact appears in several wordings) and shuffles
its sentences. Cities and countries get ``place_renderings`` articles each, being few and
shared by many persons. Real English is :func:`miub.tasks.english.pretraining_english`.
Novel persons, task query templates and held-out English never enter the corpus.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from miub.tasks.english import pretraining_english
from miub.tasks.templates import PARAPHRASES
from miub.tasks.world import Fact, World, default_world


@dataclass(frozen=True)
class Corpus:
    """Pretraining documents (shuffled, seeded) and their content hash."""

    documents: tuple[str, ...]
    sha256: str

    @property
    def n_chars(self) -> int:
        return sum(len(d) for d in self.documents)

    def text(self) -> str:
        """All documents joined by blank lines (for substring checks and tokenizer training)."""
        return "\n\n".join(self.documents)


def render_article(subject: str, facts: list[Fact], rendering: int, rng: random.Random) -> str:
    """One article about ``subject``: fact ``i`` worded with paraphrase ``rendering + i``."""
    sentences = []
    for i, fact in enumerate(facts):
        options = PARAPHRASES[fact.relation]
        template = options[(rendering + i) % len(options)]
        sentences.append(template.format(e=fact.subject, v=fact.value))
    rng.shuffle(sentences)
    return " ".join(sentences)


def build_corpus(world: World, place_renderings: int = 20, seed: int = 0) -> Corpus:
    """Render the known facts of ``world`` and mix them with the pretraining English text."""
    rng = random.Random(f"miub-corpus-{seed}")
    by_subject: dict[str, list[Fact]] = defaultdict(list)
    for fact in world.known_facts():
        by_subject[fact.subject].append(fact)
    documents: list[str] = []
    for subject, facts in by_subject.items():
        count = world.popularity.get(subject, place_renderings)
        documents += [render_article(subject, facts, r, rng) for r in range(count)]
    documents += pretraining_english()
    rng.shuffle(documents)
    digest = hashlib.sha256(json.dumps(documents, ensure_ascii=False).encode()).hexdigest()
    return Corpus(tuple(documents), digest)


@cache
def default_corpus() -> Corpus:
    """The corpus the shipped zoo models were pretrained on."""
    return build_corpus(default_world())
