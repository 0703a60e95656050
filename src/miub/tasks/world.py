"""The fictional world behind the knowledge tasks: seeded entities and their facts.

A :class:`World` holds four kinds of entity, each with a unique invented name:

- ``realm``   (4)   — no attributes;
- ``country`` (8)   — ``realm``;
- ``city``    (24)  — ``country``;
- ``person``        — ``city``, ``job``, ``color``, ``pet``, ``instrument``.

Persons come in two disjoint groups: *known* persons, whose facts are written into the
pretraining corpus (``recall``, ``compose``), and *novel* persons, whose facts appear only in
fine-tuning data (``novel``). Known persons have a *popularity*: the number of articles about
them in the corpus, from a geometric ladder (``POPULARITY_TIERS``) assigned round-robin, so
every task split holds every tier equally. As with real long-tail knowledge, small models
learn only the popular persons and larger models reach further down the tail, which is what
makes zero-shot ``recall`` rise with model size. The world is a pure function of its seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from functools import cache

PERSON_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "job": (
        "baker", "farmer", "sailor", "painter", "doctor", "teacher",
        "miner", "weaver", "hunter", "singer", "potter", "tailor",
    ),
    "color": (
        "red", "blue", "green", "yellow", "purple", "orange",
        "white", "black", "silver", "brown", "pink", "gray",
    ),
    "pet": (
        "cat", "dog", "horse", "goat", "fox", "rabbit",
        "parrot", "turtle", "snake", "mouse", "duck", "pig",
    ),
    "instrument": (
        "flute", "drum", "harp", "violin", "horn", "lute",
        "piano", "trumpet", "guitar", "cello", "banjo", "bell",
    ),
}  # fmt: skip
"""Closed value sets of the person attributes other than ``city`` (whose values are cities)."""

POPULARITY_TIERS: tuple[int, ...] = (3, 6, 12, 24, 48)
"""Corpus articles per known person, by tier; person ``i`` is in tier ``i % 5``."""

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "br", "dr", "kr", "st", "tr", "sh", "gr")  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ia", "ou")
_CODAS = ("", "", "", "n", "r", "l", "s", "th", "m", "k")


@dataclass(frozen=True)
class Fact:
    """One (subject, relation, value) triple, e.g. ``("Borevan", "city", "Tiskal")``."""

    subject: str
    relation: str
    value: str


@dataclass(frozen=True)
class World:
    """All entities and facts of one seeded world. Build with :func:`build_world`."""

    seed: int
    realms: tuple[str, ...]
    countries: dict[str, str]  # country -> realm
    cities: dict[str, str]  # city -> country
    persons: dict[str, dict[str, str]]  # known person -> {relation: value}
    novel_persons: dict[str, dict[str, str]]  # novel person -> {relation: value}
    popularity: dict[str, int]  # known person -> number of corpus articles about them
    reserved_words: frozenset[str] = field(default_factory=frozenset, repr=False)

    def known_facts(self) -> list[Fact]:
        """Every fact written into the pretraining corpus, in a fixed order."""
        facts = [Fact(c, "realm", r) for c, r in self.countries.items()]
        facts += [Fact(c, "country", k) for c, k in self.cities.items()]
        facts += [Fact(p, rel, v) for p, a in self.persons.items() for rel, v in a.items()]
        return facts

    def novel_facts(self) -> list[Fact]:
        """Facts of novel persons: never in the pretraining corpus."""
        return [Fact(p, rel, v) for p, a in self.novel_persons.items() for rel, v in a.items()]

    def values(self, relation: str) -> tuple[str, ...]:
        """The value set of a relation (the pool that distractor choices come from)."""
        if relation == "city":
            return tuple(self.cities)
        if relation == "country":
            return tuple(self.countries)
        if relation == "realm":
            return self.realms
        return PERSON_ATTRIBUTES[relation]


def _make_name(rng: random.Random) -> str:
    syllables = rng.choice((2, 2, 3))
    name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
    return (name + rng.choice(_CODAS)).capitalize()


def _unique_names(
    rng: random.Random, count: int, taken: set[str], reserved: frozenset[str]
) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = _make_name(rng)
        if name in taken or name.lower() in reserved or len(name) < 4:
            continue
        taken.add(name)
        names.append(name)
    return names


def english_words(text: str) -> frozenset[str]:
    """Lower-cased alphabetic words of ``text`` (invented names must avoid all of them)."""
    return frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", text))


def build_world(
    seed: int = 0,
    n_persons: int = 120,
    n_novel_persons: int = 240,
    reserved_words: frozenset[str] = frozenset(),
) -> World:
    """Build the seeded world. Names never coincide with each other or with ``reserved_words``
    (pass the English vocabulary of the corpus so no invented name occurs in real text)."""
    rng = random.Random(f"miub-world-{seed}")
    taken: set[str] = set()
    realms = tuple(_unique_names(rng, 4, taken, reserved_words))
    country_names = _unique_names(rng, 8, taken, reserved_words)
    countries = {c: realms[i % len(realms)] for i, c in enumerate(country_names)}
    city_names = _unique_names(rng, 24, taken, reserved_words)
    cities = {c: country_names[i % len(country_names)] for i, c in enumerate(city_names)}

    def attributes() -> dict[str, str]:
        values = {"city": rng.choice(city_names)}
        values.update({rel: rng.choice(pool) for rel, pool in PERSON_ATTRIBUTES.items()})
        return values

    persons = {p: attributes() for p in _unique_names(rng, n_persons, taken, reserved_words)}
    novel = {p: attributes() for p in _unique_names(rng, n_novel_persons, taken, reserved_words)}
    tiers = POPULARITY_TIERS
    popularity = {p: tiers[i % len(tiers)] for i, p in enumerate(persons)}
    return World(seed, realms, countries, cities, persons, novel, popularity, reserved_words)


@cache
def default_world() -> World:
    """The world the shipped zoo models were pretrained on: seed 0, and no invented name is an
    English word of the bundled real text."""
    from miub.tasks.english import load_topics

    return build_world(seed=0, reserved_words=english_words("\n".join(load_topics().values())))
