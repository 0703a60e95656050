"""Sequence groups and the delete-a-group jackknife shared by every estimator (docs/method.md §3.6).

Groups. A token of the sequence with global index ``s`` (``sequence_ids``, counted across
batches by the capture) belongs to group ``s mod G``: whole sequences go to one group, so the
jackknife sees the correlation of the tokens within a sequence. Without ``sequence_ids`` every
token is its own sequence and token ``n`` (its global index over every token the estimator has
seen) goes to group ``n mod G`` -- the old token-interleaved groups, exact only for i.i.d.
tokens. Either way the group sums, and so the value, the standard error and the replicates,
are the same however the tokens are split into batches.

Jackknife (Efron & Tibshirani, *An Introduction to the Bootstrap*, 1993, section 11.2;
delete-a-group form): with ``theta`` the estimate on all tokens, ``theta_(g)`` the estimate on
all groups but ``g`` and ``G'`` non-empty groups,

    se        = sqrt((G' - 1) / G' * sum_g (theta_(g) - mean_g theta_(g))^2),
    corrected = G' theta - (G' - 1) mean_g theta_(g)      (bias-corrected value).

The replicates ``theta_(g)`` are returned too (NaN for an empty group), so an aggregate over
modules measured on the same tokens can be jackknifed as a whole (groups are aligned).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

N_GROUPS = 16
_CHUNK_ELEMENTS = 1 << 21  # per-token outer products formed at once on CPU (8 MiB in float32)


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """float64 for running sums, except on devices without it (Apple MPS: float32)."""
    return torch.float32 if device.type == "mps" else torch.float64


def token_groups(
    n_tokens: int,
    offset: int,
    sequence_ids: torch.Tensor | None,
    n_groups: int,
    device: torch.device,
) -> torch.Tensor:
    """``(T,)`` int64 group of each token of a batch; no host synchronisation.

    ``sequence_ids`` (T,) given: ``sequence_id mod G``. ``None``: ``(offset + t) mod G`` with
    ``offset`` the number of tokens seen before this batch.
    """
    if sequence_ids is None:
        return (torch.arange(n_tokens, device=device) + offset) % n_groups
    if tuple(sequence_ids.shape) != (n_tokens,):
        raise ValueError(
            f"sequence_ids must have shape ({n_tokens},) like the tokens, "
            f"got {tuple(sequence_ids.shape)}"
        )
    return sequence_ids.to(device=device, dtype=torch.int64) % n_groups


def _one_hot(groups: torch.Tensor, n_groups: int, dtype: torch.dtype) -> torch.Tensor:
    # a comparison, not F.one_hot, which validates its input with a device sync on CUDA
    classes = torch.arange(n_groups, device=groups.device)
    return (groups[:, None] == classes).to(dtype)  # (T, G)


def group_sum(rows: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """``(T, m) -> (G, m)``: sum of the rows of each group (in the rows' dtype)."""
    if rows.device.type == "cpu":
        out = torch.zeros(n_groups, rows.shape[1], dtype=rows.dtype, device=rows.device)
        return out.index_add_(0, groups, rows)
    return _one_hot(groups, n_groups, rows.dtype).T @ rows  # dense, no atomics


def group_outer(
    left: torch.Tensor, right: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> torch.Tensor:
    """``(T, a), (T, b) -> (G, a, b)``: ``sum_{t in g} left_t right_t^T`` for every group.

    CPU: per-token outer products in chunks, added by ``index_add_`` (T·a·b flops). Other
    devices: one dense matmul ``(left ⊗ onehot)^T right`` (G·T·a·b flops, no atomics, which
    is faster on a GPU than scattering T outer products into G slots).
    """
    n, a, b = left.shape[0], left.shape[1], right.shape[1]
    if left.device.type != "cpu":
        return group_outer_dense(left, right, groups, n_groups)
    out = torch.zeros(n_groups, a, b, dtype=left.dtype, device=left.device)
    chunk = max(1, _CHUNK_ELEMENTS // max(1, a * b))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        outer = left[start:stop, :, None] * right[start:stop, None, :]  # (c, a, b)
        out.index_add_(0, groups[start:stop], outer)
    return out


def group_outer_dense(
    left: torch.Tensor, right: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> torch.Tensor:
    """:func:`group_outer` as one matmul ``(left ⊗ onehot)^T right`` (the non-CPU path)."""
    n, a, b = left.shape[0], left.shape[1], right.shape[1]
    weighted = _one_hot(groups, n_groups, left.dtype)[:, :, None] * left[:, None, :]  # (T, G, a)
    return (weighted.reshape(n, n_groups * a).T @ right).reshape(n_groups, a, b)


@dataclass(frozen=True)
class Jackknife:
    """Values of ``m`` statistics with their delete-a-group jackknife summaries.

    Attributes:
        values: ``m`` full-data values.
        stderrs: ``m`` standard errors (NaN with fewer than two non-empty groups).
        corrected: ``m`` bias-corrected values ``G' theta - (G' - 1) mean theta_(g)`` (NaN
            with fewer than two non-empty groups).
        replicates: ``m`` lists of ``G`` leave-one-group-out values (NaN for empty groups).
    """

    values: list[float]
    stderrs: list[float]
    corrected: list[float]
    replicates: list[list[float]]


def jackknife(
    statistic: Callable[[Sequence[torch.Tensor], float], torch.Tensor],
    group_sums: Sequence[torch.Tensor],
    counts: Sequence[int] | torch.Tensor,
) -> Jackknife:
    """Full-data values, standard errors, bias corrections and replicates of sum-based statistics.

    Args:
        statistic: ``statistic(totals, n_tokens)`` -> ``(m,)`` tensor of estimates, where
            ``totals`` are the entries of ``group_sums`` summed over the groups in use and
            ``n_tokens`` is their token count.
        group_sums: tensors with a leading group axis, ``(G, ...)`` each.
        counts: tokens per group, length ``G``.

    This is the one place the estimators synchronise with the device.
    """
    count_list = [int(c) for c in (counts.tolist() if isinstance(counts, torch.Tensor) else counts)]
    totals = [s.sum(dim=0) for s in group_sums]
    n_tokens = sum(count_list)
    value = statistic(totals, float(n_tokens))  # (m,)
    m = value.numel()
    kept = [g for g, c in enumerate(count_list) if c > 0]
    nan_table = [[math.nan] * len(count_list) for _ in range(m)]
    if len(kept) < 2:
        return Jackknife(value.tolist(), [math.nan] * m, [math.nan] * m, nan_table)
    leave_out = torch.stack(
        [
            statistic(
                [t - s[g] for t, s in zip(totals, group_sums, strict=True)],
                float(n_tokens - count_list[g]),
            )
            for g in kept
        ]
    )  # (G', m)
    n_kept = len(kept)
    mean = leave_out.mean(dim=0)  # (m,)
    spread = ((leave_out - mean) ** 2).sum(dim=0)  # (m,)
    stderr = torch.sqrt((n_kept - 1) / n_kept * spread)
    corrected = n_kept * value - (n_kept - 1) * mean
    table = leave_out.T.tolist()  # (m, G')
    for row, full in zip(table, nan_table, strict=True):
        for g, replicate in zip(kept, row, strict=True):
            full[g] = replicate
    return Jackknife(value.tolist(), stderr.tolist(), corrected.tolist(), nan_table)
