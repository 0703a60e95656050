"""How facts are worded. Pretraining paraphrases and task question templates are disjoint.

Each relation has several *paraphrases* used only in the pretraining corpus (a full sentence
with ``{e}`` the subject and ``{v}`` the value), and *query* templates used only by the
tasks: a context that ends right before the value, so a choice is scored as
``context + " " + value`` (lm-eval style; no trailing space). ``train`` queries word the
question differently from ``eval`` queries, which the ``novel`` task relies on.
"""

from __future__ import annotations

PARAPHRASES: dict[str, tuple[str, ...]] = {
    "city": (
        "{e} lives in {v}.",
        "The home of {e} is the city of {v}.",
        "{e} grew up in {v} and still lives there.",
        "In {v} you can meet {e} on most days.",
        "The town where {e} has a house is {v}.",
    ),
    "job": (
        "{e} works as a {v}.",
        "By trade, {e} is a {v}.",
        "{e} earns a living as a {v}.",
        "Many people know {e} as a good {v}.",
        "The work of {e} is that of a {v}.",
    ),
    "color": (
        "The favorite color of {e} is {v}.",
        "{e} likes the color {v} best.",
        "{e} always wears {v} clothes.",
        "Of all colors, {e} loves {v} the most.",
        "Ask {e} about colors and the answer is {v}.",
    ),
    "pet": (
        "{e} keeps a {v} as a pet.",
        "The pet of {e} is a {v}.",
        "{e} has a pet {v} at home.",
        "Every morning {e} feeds a {v}.",
        "A {v} lives with {e} as a pet.",
    ),
    "instrument": (
        "{e} plays the {v}.",
        "{e} practices the {v} every evening.",
        "The instrument of {e} is the {v}.",
        "Music from the {v} of {e} fills the street.",
        "When {e} makes music, it is on the {v}.",
    ),
    "country": (
        "{e} is a city in {v}.",
        "The city of {e} lies within {v}.",
        "{e} belongs to the country of {v}.",
        "Travelers find {e} in the land of {v}.",
    ),
    "realm": (
        "{e} is a country in {v}.",
        "The country of {e} is part of {v}.",
        "{e} lies in the realm of {v}.",
        "Maps place {e} inside {v}.",
    ),
}

QUERIES: dict[str, dict[str, str]] = {
    "eval": {
        "city": "{e} is a resident of the city of",
        "job": "{e} is employed as a",
        "color": "The color that {e} prefers is",
        "pet": "The animal that {e} keeps as a pet is a",
        "instrument": "The musical instrument that {e} plays is the",
        "country": "{e} is a city located in",
        "realm": "{e} is a country located in",
    },
    "train": {
        "city": "{e} resides in",
        "job": "For a living, {e} is a",
        "color": "The colour {e} likes most is",
        "pet": "At home {e} looks after a",
        "instrument": "In the evenings {e} plays a tune on the",
    },
}
"""Task contexts, LAMA-style cloze prompts worded unlike any paraphrase. ``eval`` is used by
every split except ``novel``'s train split, which uses ``train``."""

COMPOSE_QUERIES: dict[int, str] = {
    2: "{e} lives in a city in the country of",
    3: "{e} lives in a country in the realm of",
}
"""Two- and three-hop prompts about a known person; the answer is never stated directly."""
