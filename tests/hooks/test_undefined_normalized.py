"""A per-module extra that is undefined in some modules (``normalized`` where the ceiling does
not exceed the null) is averaged over the modules where it is defined, and the count is kept."""

from __future__ import annotations

import math

import numpy as np
import pytest

from miub.hooks.result import mean_over_modules
from miub.interface import EstimateResult

NAN = float("nan")


def _estimate(value: float, normalized: float, replicates: list[float]) -> EstimateResult:
    return EstimateResult(
        "js-mi",
        value,
        0.01,
        100,
        {},
        {"normalized": normalized, "normalized_stderr": 0.1},
        replicates={"value": [value] * 4, "normalized": replicates},
    )


def test_nan_modules_are_left_out_of_the_mean_and_counted() -> None:
    defined = [
        _estimate(0.1, 0.2, [0.18, 0.22, 0.21, 0.19]),
        _estimate(0.2, 0.6, [0.55, 0.62, 0.64, 0.59]),
    ]
    undefined = _estimate(0.3, NAN, [NAN] * 4)
    aggregate = mean_over_modules([defined[0], undefined, defined[1]])
    assert aggregate.value == pytest.approx(0.2)  # the value itself: all three modules
    assert aggregate.extras["normalized"] == pytest.approx(0.4)  # (0.2 + 0.6) / 2
    assert aggregate.undefined == {"normalized": 1}
    assert aggregate.to_dict()["undefined"] == {"normalized": 1}
    # the standard error is the jackknife of the mean over the two defined modules
    table = np.array([[0.18, 0.22, 0.21, 0.19], [0.55, 0.62, 0.64, 0.59]]).mean(axis=0)
    expected = math.sqrt(3 / 4 * float(((table - table.mean()) ** 2).sum()))
    assert aggregate.extras["normalized_stderr"] == pytest.approx(expected)
    # same numbers as averaging the defined modules alone
    alone = mean_over_modules(defined)
    assert aggregate.extras["normalized"] == pytest.approx(alone.extras["normalized"])
    assert aggregate.extras["normalized_stderr"] == pytest.approx(alone.extras["normalized_stderr"])
    assert alone.undefined == {} and "undefined" not in alone.to_dict()


def test_undefined_everywhere_stays_nan() -> None:
    aggregate = mean_over_modules([_estimate(0.1, NAN, [NAN] * 4), _estimate(0.2, NAN, [NAN] * 4)])
    assert math.isnan(aggregate.extras["normalized"])
    assert aggregate.undefined == {}
