"""``cloze``: predict the next word of held-out real English (pydoc topics never pretrained on).

Prose paragraphs of each held-out split's topics are cut into items every ``stride`` words:
the context is the previous ``context_words`` words (whitespace-normalised), the answer the
next word (lower-case letters, at least 3), and the distractors are drawn from the split's
answer words in proportion to their frequency, so a unigram model is at chance. Items whose
``context + " " + answer`` occurs in the pretraining English, or whose context occurs in an
earlier split (test, then validation, then train), are dropped.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from functools import cache, cached_property

from miub.errors import MiubUserError
from miub.tasks.base import Question, Task
from miub.tasks.english import pretraining_english, split_topics

_WORD = re.compile(r"[a-z]{3,}")


def normalize_whitespace(text: str) -> str:
    """Collapse every run of whitespace to one space."""
    return " ".join(text.split())


@cache
def pretraining_english_normalized() -> str:
    """The pretraining English, whitespace-normalised (for leakage checks)."""
    return normalize_whitespace("\n".join(pretraining_english()))


def prose_paragraphs(text: str) -> list[list[str]]:
    """Word lists of the paragraphs that read as prose: heading underlines are dropped, and
    paragraphs with indented lines (code, grammar rules) are skipped."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if not re.fullmatch(r"[*=~\-^]+", line)]
        if not lines or any(line.startswith(" ") for line in lines) or "::=" in block:
            continue
        words = " ".join(lines).split()
        if len(words) >= 12:
            paragraphs.append(words)
    return paragraphs


class ClozeTask(Task):
    name = "cloze"
    description = "Next-word choice on held-out real English (pydoc text not in pretraining)."

    def __init__(self, num_choices: int = 4, context_words: int = 24, stride: int = 3) -> None:
        super().__init__(num_choices)
        if context_words < 4 or stride < 1:
            raise MiubUserError("cloze needs context_words >= 4 and stride >= 1")
        self.context_words = context_words
        self.stride = stride

    @property
    def options(self) -> dict[str, object]:
        return {**super().options, "context_words": self.context_words, "stride": self.stride}

    def _items(self, split: str) -> list[tuple[str, str, str]]:
        """(topic, context, answer) candidates of one split, in text order."""
        items = []
        for topic, text in split_topics()[split].items():
            for words in prose_paragraphs(text):
                for i in range(8, len(words), self.stride):
                    if _WORD.fullmatch(words[i]):
                        context = " ".join(words[max(0, i - self.context_words) : i])
                        items.append((topic, context, words[i]))
        return items

    @cached_property
    def _all_items(self) -> dict[str, list[tuple[str, str, str]]]:
        """Kept items per split, after the leakage filters (test claims contexts first)."""
        pretrain, seen = pretraining_english_normalized(), set()
        kept: dict[str, list[tuple[str, str, str]]] = {}
        for split in ("test", "validation", "train"):
            kept[split] = []
            for topic, context, answer in self._items(split):
                if context in seen or f"{context} {answer}" in pretrain:
                    continue
                seen.add(context)
                kept[split].append((topic, context, answer))
        return kept

    def build_split(self, split: str) -> list[Question]:
        items = self._all_items[split]
        answers = [answer for _, _, answer in items]
        if len(Counter(answers)) < self.num_choices:
            raise MiubUserError(f"num_choices={self.num_choices} too large for cloze")
        questions = []
        for index, (topic, context, answer) in enumerate(items):
            rng = random.Random(f"{self.name}|{split}|{index}|{context}")
            distractors: list[str] = []
            while len(distractors) < self.num_choices - 1:
                word = rng.choice(answers)
                if word != answer and word not in distractors:
                    distractors.append(word)
            options = [*distractors, answer]
            rng.shuffle(options)
            label = options.index(answer)
            questions.append(Question(context, tuple(options), label, topic, ()))
        return questions
