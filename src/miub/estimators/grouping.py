"""Interleaved token groups and the delete-a-group jackknife for the matrix estimators.

A token with global index ``n`` (counted over every token the estimator has seen, across
batches) belongs to group ``n mod G``. Group sums are therefore the same however the tokens are
split into batches, and so are the value and the jackknife standard error computed from them.

Jackknife (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, §11.2; delete-a-group
form): with ``theta_(g)`` the estimate on all groups but ``g`` and ``G'`` non-empty groups,

    se = sqrt((G' - 1) / G' * sum_g (theta_(g) - mean_g theta_(g))^2).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

N_GROUPS = 16


def group_rows(x: torch.Tensor, offset: int, n_groups: int) -> torch.Tensor:
    """Reshape rows so that the group index is an axis: ``(T, ...) -> (n, G, ...)``.

    Row ``t`` has global index ``offset + t`` and lands in column ``(offset + t) mod G``; zero
    rows pad the front and back so that ``T`` plus padding is a multiple of ``G``. Zero rows
    add nothing to sums or outer products.
    """
    front = offset % n_groups
    back = (-(front + x.shape[0])) % n_groups
    if front or back:
        pad = [0, 0] * (x.dim() - 1) + [front, back]
        x = torch.nn.functional.pad(x, pad)
    return x.reshape(-1, n_groups, *x.shape[1:])


def group_counts(offset: int, n_tokens: int, n_groups: int) -> list[int]:
    """Number of tokens each group receives from ``n_tokens`` tokens starting at ``offset``."""
    full, rest = divmod(n_tokens, n_groups)
    counts = [full] * n_groups
    for i in range(rest):
        counts[(offset + i) % n_groups] += 1
    return counts


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """float64 for running sums, except on devices without it (Apple MPS: float32)."""
    return torch.float32 if device.type == "mps" else torch.float64


def jackknife(
    statistic: Callable[[Sequence[torch.Tensor], int], torch.Tensor],
    group_sums: Sequence[torch.Tensor],
    counts: Sequence[int],
) -> tuple[list[float], list[float]]:
    """Full-data values and delete-a-group jackknife standard errors of sum-based statistics.

    Args:
        statistic: ``statistic(totals, n_tokens)`` -> ``(m,)`` tensor of estimates, where
            ``totals`` are the entries of ``group_sums`` summed over the groups in use and
            ``n_tokens`` is their token count.
        group_sums: tensors with a leading group axis, ``(G, ...)`` each.
        counts: tokens per group, length ``G``.

    Returns:
        ``(values, stderrs)``, ``m`` floats each; stderrs are NaN with fewer than two non-empty
        groups. This is the one place the matrix estimators synchronise with the device.
    """
    totals = [s.sum(dim=0) for s in group_sums]
    n_tokens = sum(counts)
    value = statistic(totals, n_tokens)  # (m,)
    kept = [g for g, c in enumerate(counts) if c > 0]
    if len(kept) < 2:
        return value.tolist(), [math.nan] * value.numel()
    leave_out = torch.stack(
        [
            statistic(
                [t - s[g] for t, s in zip(totals, group_sums, strict=True)], n_tokens - counts[g]
            )
            for g in kept
        ]
    )  # (G', m)
    n_kept = len(kept)
    spread = ((leave_out - leave_out.mean(dim=0)) ** 2).sum(dim=0)  # (m,)
    stderr = torch.sqrt((n_kept - 1) / n_kept * spread)
    return value.tolist(), stderr.tolist()
