"""No leakage: task questions vs. the pretraining corpus, and between splits."""

from __future__ import annotations

import re
from functools import cache

from miub.tasks import default_corpus, default_world, get
from miub.tasks.cloze import normalize_whitespace
from miub.tasks.templates import COMPOSE_QUERIES, PARAPHRASES, QUERIES

SPLITS = ("train", "validation", "test")


@cache
def corpus_text() -> str:
    return default_corpus().text()


@cache
def corpus_words() -> frozenset[str]:
    return frozenset(re.findall(r"[A-Za-z]+", corpus_text()))


def test_every_known_fact_is_in_the_corpus_in_several_paraphrases() -> None:
    text = corpus_text()
    for fact in default_world().known_facts()[::25]:
        wordings = [t.format(e=fact.subject, v=fact.value) for t in PARAPHRASES[fact.relation]]
        assert sum(w in text for w in wordings) >= 3, fact


def test_no_task_prompt_wording_occurs_in_the_corpus() -> None:
    text = corpus_text()
    prompts = [*QUERIES["eval"].values(), *QUERIES["train"].values(), *COMPOSE_QUERIES.values()]
    for prompt in prompts:
        fragments = [f.strip() for f in prompt.split("{e}") if f.strip()]
        assert not all(f in text for f in fragments), prompt
    for name in ("recall", "novel", "compose"):
        task = get(name)
        for split in SPLITS:
            assert not any(q.context in text for q in task.questions(split)[::10]), (name, split)


def test_knowledge_splits_ask_about_disjoint_persons() -> None:
    for name in ("recall", "compose"):
        task = get(name)
        subjects = {split: {q.subject for q in task.questions(split)} for split in SPLITS}
        assert not subjects["train"] & subjects["validation"]
        assert not subjects["train"] & subjects["test"]
        assert not subjects["validation"] & subjects["test"]


def test_novel_facts_are_absent_from_the_corpus_but_taught_in_train() -> None:
    world, task = default_world(), get("novel")
    assert not set(world.novel_persons) & corpus_words()
    assert not set(world.novel_persons) & set(world.persons)
    train = task.questions("train")
    train_facts = {f for q in train for f in q.facts}
    train_contexts = {q.context for q in train}
    for split in ("validation", "test"):
        questions = task.questions(split)
        assert {f for q in questions for f in q.facts} <= train_facts  # learnable from train
        assert not {q.context for q in questions} & train_contexts  # but asked differently
    test = {q.subject for q in task.questions("test")}
    assert not test & {q.subject for q in task.questions("validation")}


def test_composed_answers_are_never_stated_in_the_corpus() -> None:
    documents = default_corpus().documents
    task = get("compose")
    for question in task.questions("test")[::4]:
        answer = question.choices[question.label]
        assert not any(question.subject in d and answer in d for d in documents)


def test_cloze_text_is_held_out_of_pretraining_and_between_splits() -> None:
    task = get("cloze")
    pretrain = normalize_whitespace(corpus_text())
    contexts = {split: [q.context for q in task.questions(split)] for split in SPLITS}
    for split in SPLITS:
        for question in task.questions(split):
            answer = question.choices[question.label]
            assert f"{question.context} {answer}" not in pretrain
    assert not set(contexts["train"]) & set(contexts["test"])
    assert not set(contexts["train"]) & set(contexts["validation"])
    assert not set(contexts["validation"]) & set(contexts["test"])
    topics = {split: {q.subject for q in task.questions(split)} for split in SPLITS}
    assert not topics["train"] & topics["test"]
