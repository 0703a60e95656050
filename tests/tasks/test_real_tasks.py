"""Split hygiene of the real-model tasks ``facts`` and ``continuation`` (miub.tasks.real).

Every check recomputes what it tests from the world / the source text, not from the task's
own intermediate structures.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from miub import tasks
from miub.errors import MiubUserError
from miub.tasks.cloze import normalize_whitespace, pretraining_english_normalized, prose_paragraphs
from miub.tasks.english import split_topics
from miub.tasks.templates import QUERIES
from miub.tasks.world import default_world


def fact_of(question: tasks.Question) -> tuple[str, str, str]:
    (fact,) = question.facts
    return fact


@pytest.fixture(scope="module")
def facts() -> tasks.Task:
    return tasks.get("facts")


def test_facts_train_pool_is_every_fact_of_the_taught_persons(facts: tasks.Task) -> None:
    world = default_world()
    persons = list(world.novel_persons)[:40]
    expected = {(p, rel, v) for p in persons for rel, v in world.novel_persons[p].items()}
    train = [fact_of(q) for q in facts.questions("train")]
    assert len(train) == len(set(train)) == len(expected)
    assert set(train) == expected


def test_facts_validation_and_test_ask_taught_facts_of_disjoint_persons(facts: tasks.Task) -> None:
    train = {fact_of(q) for q in facts.questions("train")}
    validation = {fact_of(q) for q in facts.questions("validation")}
    test = {fact_of(q) for q in facts.questions("test")}
    assert validation <= train and test <= train
    assert validation.isdisjoint(test)
    assert {f[0] for f in validation}.isdisjoint({f[0] for f in test})
    assert len(validation) == len(test) == 100


def test_facts_are_in_no_pretraining_corpus(facts: tasks.Task) -> None:
    corpus = tasks.default_corpus().text()
    english = pretraining_english_normalized()
    for person in {q.subject for q in facts.questions("train")}:
        assert person not in corpus
        assert person not in english


def test_facts_choices_and_labels_do_not_depend_on_the_split(facts: tasks.Task) -> None:
    train = {fact_of(q): (q.choices, q.choices[q.label]) for q in facts.questions("train")}
    for question in facts.questions("validation") + facts.questions("test"):
        fact = fact_of(question)
        assert (question.choices, question.choices[question.label]) == train[fact]
        assert question.choices[question.label] == fact[2]


def test_facts_wording_train_repeats_train_contexts_wording_eval_never_does() -> None:
    same, unseen = tasks.get("facts"), tasks.get("facts", wording="eval")
    train_contexts = {q.context for q in same.questions("train")}
    assert {q.context for q in same.questions("validation")} <= train_contexts
    for question in unseen.questions("validation") + unseen.questions("test"):
        person, relation, _ = fact_of(question)
        assert question.context == QUERIES["eval"][relation].format(e=person)
        assert question.context not in train_contexts


def test_facts_data_sizes_are_nested_and_seeded(facts: tasks.Task) -> None:
    assert facts.train(50, seed=3) == facts.train(200, seed=3)[:50]
    assert facts.train(50, seed=3) != facts.train(50, seed=4)
    with pytest.raises(MiubUserError):
        facts.train(201)
    with pytest.raises(MiubUserError):
        tasks.get("facts", wording="other")


@pytest.fixture(scope="module")
def continuation() -> tasks.Task:
    return tasks.get("continuation")


def test_continuation_answer_is_the_true_next_words(continuation: tasks.Task) -> None:
    for split in ("train", "validation", "test"):
        topics = {t: normalize_whitespace(text) for t, text in split_topics()[split].items()}
        questions = continuation.questions(split)
        assert len(questions) >= 200
        for question in questions:
            gold = question.choices[question.label]
            assert len(gold.split()) == 4
            assert f"{question.context} {gold}" in topics[question.subject]
            assert len(set(question.choices)) == len(question.choices) == 4


def test_continuation_splits_share_no_topic_or_context_and_no_pretraining_text(
    continuation: tasks.Task,
) -> None:
    english = pretraining_english_normalized()
    seen_topics: set[str] = set()
    seen_contexts: set[str] = set()
    for split in ("test", "validation", "train"):
        questions = continuation.questions(split)
        topics = {q.subject for q in questions}
        contexts = {q.context for q in questions}
        assert topics.isdisjoint(seen_topics)
        assert contexts.isdisjoint(seen_contexts)
        for question in questions:
            assert f"{question.context} {question.choices[question.label]}" not in english
        seen_topics |= topics
        seen_contexts |= contexts


def test_continuation_distractors_follow_the_same_previous_word(continuation: tasks.Task) -> None:
    """Recompute, from the source paragraphs, which spans of the split follow each word; when at
    least three other spans follow the context's last word, every distractor is one of them."""
    split = "validation"
    questions = continuation.questions(split)
    contexts = {q.context for q in questions}
    followers: dict[str, set[str]] = defaultdict(set)
    for text in split_topics()[split].values():
        for words in prose_paragraphs(text):
            for i in range(1, len(words) - 3):
                context = " ".join(words[max(0, i - 24) : i])
                if context in contexts:
                    followers[words[i - 1].lower()].add(" ".join(words[i : i + 4]))
    checked = 0
    for question in questions:
        gold = question.choices[question.label]
        others = followers[question.context.split()[-1].lower()] - {gold}
        if len(others) >= 3:
            checked += 1
            distractors = set(question.choices) - {gold}
            assert distractors <= others
    assert checked >= 50  # the rule is exercised, not vacuous
