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


def group_sum(
    rows: torch.Tensor, groups: torch.Tensor, n_groups: int, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``(T, m) -> (G, m)``: sum of the rows of each group (in the rows' dtype); added to
    ``out`` ``(G, m)`` in place when given."""
    if rows.device.type == "cpu":
        if out is None:
            out = torch.zeros(n_groups, rows.shape[1], dtype=rows.dtype, device=rows.device)
        return out.index_add_(0, groups, rows)
    dense = _one_hot(groups, n_groups, rows.dtype).T @ rows  # dense, no atomics
    return dense if out is None else out.add_(dense)


def _segments(
    left: torch.Tensor, right: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, torch.Tensor, list[tuple[int, int, int]]]:
    """Rows of ``left``, ``right`` in runs of one group: ``(left', right', [(g, start, stop)])``.

    Tokens of one sequence are consecutive, so with ``sequence_ids`` a batch is a few runs
    (one per sequence) and the rows are used in place; otherwise (e.g. token-interleaved
    groups) they are sorted by group once (stable ``argsort``), giving at most G runs.
    CPU only: reads the run lengths on the host.
    """
    values, lengths = torch.unique_consecutive(groups, return_counts=True)
    if values.numel() > 2 * n_groups:
        order = torch.argsort(groups, stable=True)
        left, right = left.index_select(0, order), right.index_select(0, order)
        lengths = torch.bincount(groups, minlength=n_groups)
        values = torch.arange(n_groups)
    runs, start = [], 0
    for group, length in zip(values.tolist(), lengths.tolist(), strict=True):
        if length:
            runs.append((group, start, start + length))
        start += length
    return left, right, runs


def group_outer(
    left: torch.Tensor,
    right: torch.Tensor,
    groups: torch.Tensor,
    n_groups: int,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(T, a), (T, b) -> (G, a, b)``: ``sum_{t in g} left_t right_t^T`` for every group.

    With ``out`` ``(G, a, b)`` the products are added to it in place (and it is returned); it
    may have a wider dtype than the rows (float32 products of one batch, float64 sums).
    CPU: one ``(a, n) @ (n, b)`` matmul per run of rows of one group (:func:`_segments`),
    T·a·b flops and no ``(T, a, b)`` temporary. Other devices: one dense matmul
    ``(left ⊗ onehot)^T right`` (G·T·a·b flops, no atomics and no host sync, which is faster
    on a GPU than scattering T outer products into G slots).
    """
    a, b = left.shape[1], right.shape[1]
    if left.device.type != "cpu":
        dense = group_outer_dense(left, right, groups, n_groups)
        return dense if out is None else out.add_(dense)
    if out is None:
        out = torch.zeros(n_groups, a, b, dtype=left.dtype, device=left.device)
    left, right, runs = _segments(left, right, groups, n_groups)
    for group, start, stop in runs:
        if out.dtype == left.dtype:
            out[group].addmm_(left[start:stop].T, right[start:stop])  # (a, n) @ (n, b)
        else:  # e.g. float32 products of one batch added to float64 running sums
            out[group].add_(left[start:stop].T @ right[start:stop])
    return out


def group_outer_stacked(
    left: torch.Tensor, right: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> torch.Tensor:
    """``(M, T, a), (M, T, b) -> (M, G, a, b)``: :func:`group_outer` of M pairs of row sets
    that share the token groups ``(T,)`` (e.g. the same tokens in M modules), one batched
    matmul per run of rows of one group on CPU, one dense batched matmul elsewhere."""
    n_modules, a = left.shape[0], left.shape[2]
    b = right.shape[2]
    if left.device.type != "cpu":
        return group_outer_stacked_dense(left, right, groups, n_groups)
    out = torch.zeros(n_modules, n_groups, a, b, dtype=left.dtype, device=left.device)
    values, lengths = torch.unique_consecutive(groups, return_counts=True)
    if values.numel() > 2 * n_groups:  # interleaved groups: sort the rows by group once
        order = torch.argsort(groups, stable=True)
        left, right = left.index_select(1, order), right.index_select(1, order)
        values, lengths = torch.arange(n_groups), torch.bincount(groups, minlength=n_groups)
    start = 0
    for group, length in zip(values.tolist(), lengths.tolist(), strict=True):
        if length:
            stop = start + length
            out[:, group].baddbmm_(left[:, start:stop].transpose(1, 2), right[:, start:stop])
        start += length
    return out


def group_outer_stacked_dense(
    left: torch.Tensor, right: torch.Tensor, groups: torch.Tensor, n_groups: int
) -> torch.Tensor:
    """:func:`group_outer_stacked` as one dense batched matmul (the non-CPU path)."""
    n_modules, n, a = left.shape
    one_hot = _one_hot(groups, n_groups, left.dtype)  # (T, G)
    weighted = (one_hot[None, :, :, None] * left[:, :, None, :]).reshape(n_modules, n, -1)
    return (weighted.transpose(1, 2) @ right).reshape(n_modules, n_groups, a, right.shape[2])


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


def jackknife_batched(
    statistic: Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor],
    group_sums: Sequence[torch.Tensor],
    counts: Sequence[float] | torch.Tensor,
) -> Jackknife:
    """Full-data values, standard errors, bias corrections and replicates of sum-based statistics.

    The statistic is evaluated once, on the stack of the full-data totals and the G'
    leave-one-group-out totals (no loop over groups).

    Args:
        statistic: ``statistic(totals, n_tokens)`` -> ``(N, m)`` estimates, where ``totals``
            are ``(N, ...)`` stacks, fresh tensors the statistic may modify in place (row 0:
            the entries of ``group_sums`` summed over all groups; row ``1 + i``: the same
            without the ``i``-th non-empty group), and ``n_tokens`` ``(N,)`` their token
            counts (in the dtype of ``group_sums[0]``).
        group_sums: tensors with a leading group axis, ``(G, ...)`` each.
        counts: tokens per group, length ``G``.

    This is the one place the estimators synchronise with the device (the counts, then one
    copy of all results to the host).
    """
    return jackknife_stacked(statistic, [sums[None] for sums in group_sums], counts)[0]


def jackknife_stacked(
    statistic: Callable[[Sequence[torch.Tensor], torch.Tensor], torch.Tensor],
    group_sums: Sequence[torch.Tensor],
    counts: Sequence[float] | torch.Tensor,
) -> list[Jackknife]:
    """:func:`jackknife_batched` for M estimates with the same group counts at once (e.g. one
    estimator in each of M modules that saw the same tokens), in one evaluation of
    ``statistic`` on the ``(M·N, ...)`` stack (module-major: rows ``i·N .. i·N + N - 1`` are
    module ``i``'s full and leave-one-out totals) and one copy to the host.

    Args:
        statistic: as for :func:`jackknife_batched`, on ``(M·N, ...)`` stacks.
        group_sums: tensors ``(M, G, ...)`` each.
        counts: tokens per group, length ``G`` (the same for every module).

    Returns:
        M :class:`Jackknife` summaries, in module order.
    """
    count_list = [int(c) for c in (counts.tolist() if isinstance(counts, torch.Tensor) else counts)]
    reference = group_sums[0]
    n_modules, n_groups = reference.shape[0], len(count_list)
    n_all = sum(count_list)
    kept = [g for g, c in enumerate(count_list) if c > 0]
    n_kept = len(kept)
    left_out = kept if n_kept >= 2 else []  # the groups whose replicates are computed
    n_rows = 1 + len(left_out)  # N
    index = torch.tensor(left_out, dtype=torch.long, device=reference.device)
    kept_index = torch.tensor(kept, dtype=torch.long, device=reference.device)
    stacks = []
    for sums in group_sums:  # (M, G, ...); only the non-empty groups are read (an empty
        # group's entries may be unset: estimators zero a group when it first gets tokens)
        kept_sums = sums if n_kept == n_groups else sums.index_select(1, kept_index)
        stack = sums.new_empty((n_modules, n_rows, *sums.shape[2:]))  # (M, N, ...)
        torch.sum(kept_sums, dim=1, out=stack[:, 0])
        if left_out:
            torch.sub(stack[:, :1], kept_sums, out=stack[:, 1:])
        stacks.append(stack.view(n_modules * n_rows, *sums.shape[2:]))  # (M·N, ...)
    n_tokens = torch.tensor(
        [float(n_all)] + [float(n_all - count_list[g]) for g in left_out],
        dtype=reference.dtype,
        device=reference.device,
    ).repeat(n_modules)  # (M·N,)
    out = statistic(stacks, n_tokens)  # (M·N, m)
    m = out.shape[1]
    out = out.view(n_modules, n_rows, m)
    value = out[:, 0]  # (M, m)
    if n_kept < 2:
        nan = [math.nan] * m
        table = [[math.nan] * n_groups for _ in range(m)]
        return [Jackknife(row, nan, nan, table) for row in value.tolist()]
    leave_out = out[:, 1:]  # (M, G', m)
    mean = leave_out.mean(dim=1)  # (M, m)
    spread = ((leave_out - mean[:, None]) ** 2).sum(dim=1)  # (M, m)
    stderr = torch.sqrt((n_kept - 1) / n_kept * spread)
    corrected = n_kept * value - (n_kept - 1) * mean
    replicates = torch.full((n_modules, m, n_groups), math.nan, dtype=out.dtype, device=out.device)
    replicates[:, :, index] = leave_out.transpose(1, 2)  # (M, m, G), NaN for empty groups
    summary = torch.stack([value, stderr, corrected], dim=1)  # (M, 3, m)
    host = torch.cat([summary.reshape(n_modules, -1), replicates.reshape(n_modules, -1)], dim=1)
    fits = []
    for row in host.tolist():  # one copy for every module
        table = [row[3 * m + i * n_groups : 3 * m + (i + 1) * n_groups] for i in range(m)]
        fits.append(Jackknife(row[:m], row[m : 2 * m], row[2 * m : 3 * m], table))
    return fits


def jackknife(
    statistic: Callable[[Sequence[torch.Tensor], float], torch.Tensor],
    group_sums: Sequence[torch.Tensor],
    counts: Sequence[int] | torch.Tensor,
) -> Jackknife:
    """:func:`jackknife_batched` for an unbatched ``statistic(totals, n_tokens: float) -> (m,)``
    (evaluated once per row of the stack; the estimators use batched statistics)."""

    def batched(stacks: Sequence[torch.Tensor], n_tokens: torch.Tensor) -> torch.Tensor:
        rows = [statistic([s[i] for s in stacks], n) for i, n in enumerate(n_tokens.tolist())]
        return torch.stack(rows)  # (N, m)

    return jackknife_batched(batched, group_sums, counts)
