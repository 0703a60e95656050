"""``EvalConfig.split``: which held-out questions an evaluation uses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from miub.errors import MiubUserError
from miub.tasks import get as get_task
from miub.training import EvalConfig
from miub.training.data import evaluation_examples


def test_validation_plus_test_is_both_pools_in_order() -> None:
    task = get_task("recall")
    validation, test = task.validation(), task.test()
    both = task.evaluation("validation+test")
    assert both == validation + test
    assert len(both) == len(validation) + len(test)
    assert task.evaluation("validation+test", 130) == validation + test[: 130 - len(validation)]
    assert task.evaluation("test", 7) == test[:7]
    assert evaluation_examples(task, "validation", 5) == validation[:5]
    # no question is in both pools
    assert not {e["context"] + e["choices"][e["label"]] for e in validation} & {
        e["context"] + e["choices"][e["label"]] for e in test
    }


def test_unknown_split_is_a_user_error() -> None:
    with pytest.raises(MiubUserError, match="validation\\+test"):
        get_task("recall").evaluation("train")
    with pytest.raises(ValidationError):
        EvalConfig(split="train")  # type: ignore[arg-type]


def test_the_demo_evaluates_on_every_held_out_question() -> None:
    from miub.sweeps.study import load_study, resolve_study_path

    study = load_study(resolve_study_path("demo"))
    task = get_task("recall")
    n_held_out = len(task.validation()) + len(task.test())
    assert study.eval.split == "validation+test"
    assert study.eval.eval_examples == study.eval.ce_examples == n_held_out
