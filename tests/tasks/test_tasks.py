"""Task registry, example format, determinism and nested data sizes."""

from __future__ import annotations

import pytest

import miub.tasks
from miub.errors import MiubUserError
from miub.tasks import build_world, get, names


def test_registry_lists_the_four_tasks_and_rejects_unknown_names() -> None:
    assert set(names()) >= {"recall", "novel", "compose", "cloze"}
    with pytest.raises(MiubUserError, match="recall"):
        get("no-such-task")
    with pytest.raises(MiubUserError):
        get("recall", bogus_option=1)


@pytest.mark.parametrize("name", ["recall", "novel", "compose", "cloze"])
def test_examples_are_well_formed(name: str) -> None:
    task = get(name)
    assert task.name == name and task.description
    for split in (task.train(20, seed=0), task.validation(20), task.test(20)):
        assert len(split) == 20
        for example in split:
            assert set(example) == {"context", "choices", "label"}
            assert example["context"] and example["context"] == example["context"].rstrip()
            assert len(set(example["choices"])) == len(example["choices"]) == 4
            assert 0 <= example["label"] < 4


@pytest.mark.parametrize("name", ["recall", "novel", "compose", "cloze"])
def test_same_seed_same_data_and_nested_sizes(name: str) -> None:
    first, again = get(name), get(name)
    n = min(64, len(first.questions("train")) // 2)
    assert first.train(n, seed=3) == again.train(n, seed=3)
    assert first.test() == again.test() and first.validation() == again.validation()
    assert first.train(n, seed=3) != first.train(n, seed=4)
    assert first.train(2 * n, seed=3)[:n] == first.train(n, seed=3)
    assert len(first.train(n + 1, seed=0)) == n + 1


def test_train_size_beyond_the_pool_is_a_user_error() -> None:
    task = get("compose")
    pool = len(task.questions("train"))
    assert len(task.train(pool)) == pool
    with pytest.raises(MiubUserError, match=str(pool)):
        task.train(pool + 1)


def test_options_change_the_task() -> None:
    assert all(len(e["choices"]) == 2 for e in get("recall", num_choices=2).test(20))
    three_hop = get("compose", complexity=3)
    assert three_hop.options["complexity"] == 3
    realms = set(miub.tasks.default_world().realms)
    assert all(set(e["choices"]) <= realms for e in three_hop.test(20))
    with pytest.raises(MiubUserError):
        get("compose", complexity=5)


def test_world_is_a_function_of_its_seed() -> None:
    assert build_world(seed=3, n_persons=50) == build_world(seed=3, n_persons=50)
    assert build_world(seed=3, n_persons=50) != build_world(seed=4, n_persons=50)


def test_every_split_holds_every_popularity_tier_equally() -> None:
    from collections import Counter

    from miub.tasks.world import POPULARITY_TIERS

    world, task = miub.tasks.default_world(), get("recall")
    for split in ("train", "validation", "test"):
        subjects = {q.subject for q in task.questions(split)}
        counts = Counter(world.popularity[s] for s in subjects)
        assert set(counts) == set(POPULARITY_TIERS)
        assert max(counts.values()) - min(counts.values()) <= 1
