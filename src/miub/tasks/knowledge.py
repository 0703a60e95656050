"""Knowledge tasks over the fictional world: ``recall``, ``novel`` and ``compose``.

Known persons are split by entity: the first 40 (in world order) are test, the next 20
validation, the rest train, so no train question is about a validation or test person. Each
split holds the popularity tiers in equal shares (see :mod:`miub.tasks.world`).

- ``recall``: one-hop questions about known persons (facts that are in the pretraining
  corpus, asked with a prompt wording that never is).
- ``novel``: one-hop questions about novel persons, whose facts are nowhere in the corpus.
  Train examples word the question with the ``train`` prompts; validation (odd persons) and
  test (even persons) ask about the same facts with the ``eval`` prompts, so a model must
  learn the facts from fine-tuning and retrieve them under a new wording.
- ``compose``: ``complexity``-hop questions (2: person → city → country; 3: … → realm) about
  known persons; each hop is in the corpus, the composed answer never is.
"""

from __future__ import annotations

from miub.errors import MiubUserError
from miub.tasks.base import Question, Task, make_choices
from miub.tasks.templates import COMPOSE_QUERIES, QUERIES
from miub.tasks.world import World, default_world

PERSON_SPLIT_SIZES = {"test": 40, "validation": 20}


def split_persons(world: World) -> dict[str, list[str]]:
    """Known persons by task split: test, then validation, then train (the rest)."""
    persons = list(world.persons)
    n_test, n_val = PERSON_SPLIT_SIZES["test"], PERSON_SPLIT_SIZES["validation"]
    return {
        "test": persons[:n_test],
        "validation": persons[n_test : n_test + n_val],
        "train": persons[n_test + n_val :],
    }


def one_hop_questions(
    world: World,
    persons: dict[str, dict[str, str]],
    names: list[str],
    prompts: str,
    n_choices: int,
    tag: str,
) -> list[Question]:
    """One question per (person, relation), worded with ``QUERIES[prompts]``."""
    questions = []
    for person in names:
        for relation, value in persons[person].items():
            context = QUERIES[prompts][relation].format(e=person)
            choices, label = make_choices(
                value, world.values(relation), n_choices, f"{tag}|{person}|{relation}"
            )
            fact = (person, relation, value)
            questions.append(Question(context, choices, label, person, (fact,)))
    return questions


class RecallTask(Task):
    name = "recall"
    description = "One-hop questions on facts of known entities, all seen in pretraining."

    def __init__(self, num_choices: int = 4, world: World | None = None) -> None:
        super().__init__(num_choices)
        self.world = world or default_world()

    def build_split(self, split: str) -> list[Question]:
        names = split_persons(self.world)[split]
        return one_hop_questions(
            self.world, self.world.persons, names, "eval", self.num_choices, self.name
        )


class NovelTask(Task):
    name = "novel"
    description = "One-hop questions on facts that appear only in the fine-tuning data."

    def __init__(self, num_choices: int = 4, world: World | None = None) -> None:
        super().__init__(num_choices)
        self.world = world or default_world()

    def build_split(self, split: str) -> list[Question]:
        persons = list(self.world.novel_persons)
        if split == "train":
            names, prompts = persons, "train"
        else:
            names, prompts = persons[1::2] if split == "validation" else persons[0::2], "eval"
        return one_hop_questions(
            self.world, self.world.novel_persons, names, prompts, self.num_choices, self.name
        )


class ComposeTask(Task):
    name = "compose"
    description = "Multi-hop questions (person → city → country [→ realm]) on known persons."

    def __init__(
        self, num_choices: int = 4, complexity: int = 2, world: World | None = None
    ) -> None:
        super().__init__(num_choices)
        if complexity not in COMPOSE_QUERIES:
            raise MiubUserError(f"compose complexity (hops) must be 2 or 3, got {complexity}")
        self.complexity = complexity
        self.world = world or default_world()

    @property
    def options(self) -> dict[str, object]:
        return {**super().options, "complexity": self.complexity}

    def build_split(self, split: str) -> list[Question]:
        world, questions = self.world, []
        for person in split_persons(world)[split]:
            city = world.persons[person]["city"]
            country = world.cities[city]
            chain = [(person, "city", city), (city, "country", country)]
            answer, relation = country, "country"
            if self.complexity == 3:
                answer, relation = world.countries[country], "realm"
                chain.append((country, "realm", answer))
            choices, label = make_choices(
                answer, world.values(relation), self.num_choices, f"{self.name}|{person}"
            )
            context = COMPOSE_QUERIES[self.complexity].format(e=person)
            questions.append(Question(context, choices, label, person, tuple(chain)))
        return questions
