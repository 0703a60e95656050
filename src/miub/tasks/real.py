"""Tasks with headroom for a real pretrained LLM: ``facts`` and ``continuation``.

A real model (SmolLM2-135M) is at 0.89 zero-shot on ``cloze`` (no room to learn) and at
chance on ``novel`` but cannot learn it from a few hundred examples (the test wording differs
from the training wording). These two tasks start far below their ceiling and fine-tuning
moves their accuracy:

- ``facts`` (knowledge injection): the facts of ``n_persons`` novel persons of the fictional
  world (never in any pretraining corpus, real or built-in), one question per (person,
  relation). The train pool is every fact; validation asks the facts of the first half of the
  persons, test those of the second half, worded with ``wording`` (``train``: the fine-tuning
  wording, so ACC measures how many taught facts were learnt; ``eval``: an unseen wording,
  which also needs the knowledge to be extractable). ``train(n)`` teaches ``n`` of the facts
  (axis D = facts taught), so a zero-shot model is at chance (1 / num_choices) and a model
  that learnt every taught fact reaches ``1/c + (1 - 1/c) · n / pool``.
- ``continuation`` (real English, hard distractors): held-out pydoc prose (the ``cloze``
  splits, same leakage filters); the context is the previous ``context_words`` words and the
  answer the next ``span_words`` words. Distractors are spans of the same split that follow
  the *same previous word* elsewhere (so the last word gives no cue), topped up with spans of
  the same topic; a model must read the context.
"""

from __future__ import annotations

import random
from collections import defaultdict
from functools import cached_property

from miub.errors import MiubUserError
from miub.tasks.base import Question, Task
from miub.tasks.cloze import ClozeTask, prose_paragraphs
from miub.tasks.english import split_topics
from miub.tasks.knowledge import one_hop_questions
from miub.tasks.world import World, default_world


class FactsTask(Task):
    name = "facts"
    description = "Knowledge injection: fictional facts taught only by fine-tuning, then asked."

    def __init__(
        self,
        num_choices: int = 4,
        n_persons: int = 40,
        wording: str = "train",
        world: World | None = None,
    ) -> None:
        super().__init__(num_choices)
        self.world = world or default_world()
        if wording not in ("train", "eval"):
            raise MiubUserError(f"facts wording must be 'train' or 'eval', got {wording!r}")
        if not 2 <= n_persons <= len(self.world.novel_persons):
            raise MiubUserError(
                f"facts n_persons must be in 2..{len(self.world.novel_persons)}, got {n_persons}"
            )
        self.n_persons = n_persons
        self.wording = wording

    @property
    def options(self) -> dict[str, object]:
        return {**super().options, "n_persons": self.n_persons, "wording": self.wording}

    def persons(self) -> list[str]:
        """The taught persons, in world order (validation: first half, test: second half)."""
        return list(self.world.novel_persons)[: self.n_persons]

    def build_split(self, split: str) -> list[Question]:
        persons, half = self.persons(), self.n_persons // 2
        if split == "train":
            names, prompts = persons, "train"
        else:
            names = persons[:half] if split == "validation" else persons[half:]
            prompts = self.wording
        # the same choice key for every split, so a fact's options do not depend on the split
        return one_hop_questions(
            self.world, self.world.novel_persons, names, prompts, self.num_choices, self.name
        )


class ContinuationTask(Task):
    name = "continuation"
    description = "Choose the next words of held-out real English among same-cue distractors."

    def __init__(
        self, num_choices: int = 4, context_words: int = 24, span_words: int = 4, stride: int = 5
    ) -> None:
        super().__init__(num_choices)
        if span_words < 1 or context_words < 4 or stride < 1:
            raise MiubUserError(
                "continuation needs span_words >= 1, context_words >= 4, stride >= 1"
            )
        self.context_words = context_words
        self.span_words = span_words
        self.stride = stride

    @property
    def options(self) -> dict[str, object]:
        return {
            **super().options,
            "context_words": self.context_words,
            "span_words": self.span_words,
            "stride": self.stride,
        }

    @cached_property
    def _cloze(self) -> ClozeTask:
        # the cloze leakage filters (pretraining text, earlier splits) are reused on contexts
        return ClozeTask(self.num_choices, self.context_words, self.stride)

    def _items(self, split: str) -> list[tuple[str, str, str, str]]:
        """(topic, context, previous word, span) of one split, after the cloze filters."""
        kept = {(topic, context) for topic, context, _ in self._cloze._all_items[split]}
        items = []
        for topic, text in split_topics()[split].items():
            for words in prose_paragraphs(text):
                for i in range(8, len(words) - self.span_words + 1, self.stride):
                    context = " ".join(words[max(0, i - self.context_words) : i])
                    if (topic, context) in kept:
                        span = " ".join(words[i : i + self.span_words])
                        items.append((topic, context, words[i - 1].lower(), span))
        return items

    def build_split(self, split: str) -> list[Question]:
        items = self._items(split)
        by_previous: dict[str, list[str]] = defaultdict(list)
        by_topic: dict[str, list[str]] = defaultdict(list)
        for topic, _, previous, span in items:
            by_previous[previous].append(span)
            by_topic[topic].append(span)
        questions = []
        for index, (topic, context, previous, span) in enumerate(items):
            rng = random.Random(f"{self.name}|{split}|{index}|{context}")
            distractors: list[str] = []
            for pool in (by_previous[previous], by_topic[topic], [s for *_, s in items]):
                candidates = sorted(set(pool) - {span, *distractors})
                rng.shuffle(candidates)
                distractors += candidates[: self.num_choices - 1 - len(distractors)]
            if len(distractors) < self.num_choices - 1:
                raise MiubUserError(f"num_choices={self.num_choices} too large for continuation")
            options = [*distractors, span]
            rng.shuffle(options)
            questions.append(Question(context, tuple(options), options.index(span), topic, ()))
        return questions
