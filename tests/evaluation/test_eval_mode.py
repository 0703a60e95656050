"""Scoring runs with dropout off and gives the model back in the mode it came in."""

from __future__ import annotations

import pytest
from torch import nn

from miub.evaluation.scoring import eval_mode


def test_eval_mode_restores_training_flag_after_an_exception() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    with pytest.raises(RuntimeError), eval_mode(model):
        assert not model.training and not model[1].training
        raise RuntimeError("evaluation failed")
    assert model.training and model[1].training


def test_eval_mode_keeps_an_eval_model_in_eval() -> None:
    model = nn.Linear(2, 2).eval()
    with eval_mode(model):
        pass
    assert not model.training
