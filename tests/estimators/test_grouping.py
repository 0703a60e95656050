"""Sequence groups, grouped sums and the delete-a-group jackknife against direct formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from miub.estimators.grouping import (
    group_outer,
    group_outer_dense,
    group_sum,
    jackknife,
    token_groups,
)


def test_token_groups_are_sequence_ids_mod_g_or_the_global_token_index() -> None:
    ids = torch.tensor([3, 3, 3, 4, 4, 21, 21])
    assert token_groups(7, 0, ids, 4, torch.device("cpu")).tolist() == [3, 3, 3, 0, 0, 1, 1]
    # None: token t of the batch has global index offset + t
    assert token_groups(7, 5, None, 4, torch.device("cpu")).tolist() == [
        (5 + t) % 4 for t in range(7)
    ]
    with pytest.raises(ValueError, match="sequence_ids must have shape"):
        token_groups(7, 0, ids[:3], 4, torch.device("cpu"))


@pytest.mark.parametrize("outer", [group_outer, group_outer_dense])
def test_group_sums_and_outer_products_match_numpy(outer) -> None:
    rng = np.random.default_rng(0)
    left, right = rng.normal(size=(50, 3)), rng.normal(size=(50, 4))
    groups = rng.integers(0, 5, size=50)
    g = torch.tensor(groups)
    sums = group_sum(torch.tensor(left), g, 5).numpy()
    products = outer(torch.tensor(left), torch.tensor(right), g, 5).numpy()
    for group in range(5):
        rows = groups == group
        np.testing.assert_allclose(sums[group], left[rows].sum(0), atol=1e-12)
        np.testing.assert_allclose(products[group], left[rows].T @ right[rows], atol=1e-12)


def test_jackknife_of_a_mean_equals_standard_error_of_group_means() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=160)
    n_groups = 16
    groups = np.arange(160) % n_groups
    sums = torch.tensor([values[groups == g].sum() for g in range(n_groups)])[:, None]  # (G, 1)
    counts = [10] * n_groups
    fit = jackknife(lambda totals, n: totals[0] / n, [sums], counts)
    group_means = np.array([values[groups == g].mean() for g in range(n_groups)])
    assert fit.values[0] == pytest.approx(values.mean())
    # equal groups: the jackknife of a mean is std(group means) / sqrt(G)
    assert fit.stderrs[0] == pytest.approx(group_means.std(ddof=1) / math.sqrt(n_groups))
    # replicates: the mean without group g; a mean has no jackknife bias correction
    for g in range(n_groups):
        assert fit.replicates[0][g] == pytest.approx(values[groups != g].mean())
    assert fit.corrected[0] == pytest.approx(values.mean())
    single = jackknife(lambda totals, n: totals[0] / n, [sums], [10] + [0] * 15)
    assert math.isnan(single.stderrs[0]) and math.isnan(single.replicates[0][3])


def test_jackknife_bias_correction_removes_the_1_over_n_bias_of_a_squared_mean() -> None:
    """theta = mean^2 has bias var/n; the delete-a-group correction G θ - (G-1) mean θ_(g)
    equals the unbiased mean^2 - s_G^2/G with s_G^2 the variance of the group means' estimate
    (exact for equal groups: the jackknife removes 1/n bias terms exactly)."""
    rng = np.random.default_rng(1)
    values = rng.normal(loc=0.3, size=320)
    n_groups = 16
    groups = np.arange(320) % n_groups
    sums = torch.tensor([values[groups == g].sum() for g in range(n_groups)])[:, None]
    fit = jackknife(lambda totals, n: (totals[0] / n) ** 2, [sums], [20] * n_groups)
    group_means = np.array([values[groups == g].mean() for g in range(n_groups)])
    expected = values.mean() ** 2 - group_means.var(ddof=1) / n_groups
    assert fit.corrected[0] == pytest.approx(expected, rel=1e-9)
