"""Interleaved groups and the delete-a-group jackknife against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from miub.estimators.grouping import group_counts, group_rows, jackknife


def test_group_rows_uses_global_token_index() -> None:
    x = torch.arange(1.0, 8.0)[:, None]  # tokens 1..7 at global indices 5..11
    grouped = group_rows(x, offset=5, n_groups=4)  # (n, 4, 1)
    sums = grouped.sum(0)[:, 0].tolist()
    expected = [0.0] * 4
    for t in range(7):
        expected[(5 + t) % 4] += t + 1
    assert sums == expected
    assert group_counts(5, 7, 4) == [np.sum((np.arange(5, 12) % 4) == g) for g in range(4)]


def test_jackknife_of_a_mean_equals_standard_error_of_group_means() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=160)
    n_groups = 16
    groups = np.arange(160) % n_groups
    sums = torch.tensor([values[groups == g].sum() for g in range(n_groups)])[:, None]  # (G, 1)
    counts = [10] * n_groups
    value, stderr = jackknife(lambda totals, n: totals[0] / n, [sums], counts)
    group_means = np.array([values[groups == g].mean() for g in range(n_groups)])
    assert value[0] == pytest.approx(values.mean())
    # equal groups: the jackknife of a mean is std(group means) / sqrt(G)
    assert stderr[0] == pytest.approx(group_means.std(ddof=1) / math.sqrt(n_groups))
    _, single = jackknife(lambda totals, n: totals[0] / n, [sums], [10] + [0] * 15)
    assert math.isnan(single[0])
