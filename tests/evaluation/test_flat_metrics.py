"""Flat metric names of an evaluation pass come from the metric registry (miub.metrics)."""

from __future__ import annotations

import pytest

from miub.hooks import AggregateValue
from miub.training.eval_pass import flatten_capture


def test_flat_names_are_the_registered_columns():
    js_mi = AggregateValue(
        value=0.01,
        stderr=0.002,
        n_modules=14,
        extras={
            "null": 0.001,
            "ceiling": 0.05,
            "corrected": 0.009,
            "normalized": 0.18,
            "normalized_stderr": 0.03,
            "mi": 0.02,
            "mi_stderr": 0.004,
            "dpi": 0.3,
            "dpi_stderr": 0.01,
            "base_token_mi": 1.5,  # not a registered metric: breakdown only
            "base_token_mi_stderr": 0.1,
        },
    )
    token_jsd = AggregateValue(value=0.4, stderr=0.01, n_modules=14, extras={})
    flat = flatten_capture({"js-mi": js_mi, "token-jsd": token_jsd})
    assert flat == {
        "js_mi": 0.01,
        "js_mi_stderr": 0.002,
        "js_mi_null": 0.001,
        "js_mi_ceiling": 0.05,
        "js_mi_corrected": 0.009,
        "js_mi_normalized": 0.18,
        "js_mi_normalized_stderr": 0.03,
        "mi": 0.02,
        "mi_stderr": 0.004,
        "dpi": 0.3,
        "dpi_stderr": 0.01,
        "token_jsd": 0.4,
        "token_jsd_stderr": 0.01,
    }


def test_an_estimators_own_value_wins_over_another_ones_extra():
    js_mi = AggregateValue(0.01, 0.002, 3, extras={"mi": 0.02, "mi_stderr": 0.004})
    mi = AggregateValue(0.025, 0.005, 3, extras={"js_mi": 0.011, "js_mi_stderr": 0.003})
    flat = flatten_capture({"js-mi": js_mi, "mi": mi})
    assert flat["mi"] == pytest.approx(0.025) and flat["mi_stderr"] == pytest.approx(0.005)
    assert flat["js_mi"] == pytest.approx(0.01) and flat["js_mi_stderr"] == pytest.approx(0.002)


def test_column_named_extras_are_read_too():
    js_mi = AggregateValue(0.01, 0.002, 3, extras={"js_mi_null": 0.001})
    assert flatten_capture({"js-mi": js_mi})["js_mi_null"] == pytest.approx(0.001)
