"""Divergences and entropies of discrete distributions, computed stably.

All functions reduce over the last dimension and return values in nats. The per-token versions
take *log*-probabilities (e.g. ``log_softmax`` outputs), so they stay finite when a softmax
underflows to exact zeros: the JSD mixture is formed as
``log m = logsumexp(log p, log q) - ln 2`` instead of ``log((p + q) / 2)``, and every
``p log(p / m)`` term is ``exp(log p) * (log p - log m)``, which is ``0`` (not ``0 * -inf``)
where ``p`` underflows. The matrix versions take probabilities (joint tables in float64) and
use the convention ``0 log 0 = 0``.

References: Cover & Thomas, *Elements of Information Theory* (2006), eqs. 2.26 (KL) and 2.28
(MI); Lin, "Divergence measures based on the Shannon entropy", IEEE Trans. IT 37 (1991) (JSD).
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)


def _plogp_ratio(log_p: torch.Tensor, log_m: torch.Tensor) -> torch.Tensor:
    """Elementwise ``p * (log p - log m)`` with ``0`` where ``p == 0`` (``log p == -inf``)."""
    terms = torch.exp(log_p) * (log_p - log_m)
    return torch.where(torch.isneginf(log_p), torch.zeros_like(terms), terms)


def entropy(log_p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy ``H(p) = -sum_i p_i log p_i`` in nats.

    Args:
        log_p: log-probabilities, ``(..., n)``; ``-inf`` entries are allowed.

    Returns:
        ``(...)`` entropies, in ``[0, ln n]``.
    """
    zeros = torch.zeros_like(log_p)
    return -_plogp_ratio(log_p, zeros).sum(dim=-1)


def kl_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Kullback-Leibler divergence ``KL(p || q) = sum_i p_i (log p_i - log q_i)`` in nats.

    Args:
        log_p, log_q: log-probabilities, ``(..., n)`` each (broadcastable).

    Returns:
        ``(...)`` divergences, ``>= 0`` (``inf`` where ``q_i = 0 < p_i``).
    """
    return _plogp_ratio(log_p, log_q).sum(dim=-1)


def js_divergence(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence ``JSD(p, q) = KL(p || m)/2 + KL(q || m)/2``, ``m = (p + q)/2``.

    The mixture is computed as ``log m = logsumexp([log p, log q]) - ln 2``, which is finite
    wherever either input is, so the result is finite even for one-hot (underflowed) inputs.

    Args:
        log_p, log_q: log-probabilities, ``(..., n)`` each (same shape).

    Returns:
        ``(...)`` divergences in nats, in ``[0, ln 2]``; symmetric in ``p`` and ``q``.
    """
    log_m = torch.logaddexp(log_p, log_q) - LN2
    jsd = 0.5 * (_plogp_ratio(log_p, log_m).sum(dim=-1) + _plogp_ratio(log_q, log_m).sum(dim=-1))
    return jsd.clamp(0.0, LN2)


_TINY = torch.finfo(torch.float64).tiny


def xlogx_sum(x: torch.Tensor, dim: int | tuple[int, ...] = -1) -> torch.Tensor:
    """``sum x log x`` over ``dim`` for ``x >= 0`` with ``0 log 0 = 0`` (one log per element).

    ``x log max(x, tiny)``: exact for ``x >= tiny``; below it the term is under ``1e-305``.
    """
    terms = x.clamp_min(_TINY)  # one temporary, then in place: log, times x
    return terms.log_().mul_(x).sum(dim=dim)


def joint_information(
    joint_sum: torch.Tensor, dims: tuple[int, int] = (-2, -1)
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(js_mi, mi)`` of unnormalised joint tables ``J`` -> the shape of ``J`` without ``dims``.

    ``dims``: the axes of the table's two variables (default the last two, ``(..., k_i,
    k_j)``); any two distinct axes, e.g. ``(1, 3)`` for the estimators' ``(N, k, J, k)`` stacks,
    which are then reduced in place without a transposed copy. Both statistics are symmetric
    in the two variables, so the order of ``dims`` does not matter.

    With ``s = sum J``, ``P = J / s``, marginals ``P_I``, ``P_J``, ``Q = P_I (x) P_J`` and
    ``M = (P + Q) / 2`` (two logarithms per cell, the ``Q`` terms from the marginals):

        mi    = KL(P || Q) = sum P log P - sum P_I log P_I - sum P_J log P_J,
        js_mi = JSD(P, Q)  = (sum P log P + sum Q log Q) / 2 - sum M log M,
        sum Q log Q = sum P_I log P_I + sum P_J log P_J,

    each ``sum X log X`` of a table ``X = Y / c`` taken as ``sum Y log Y / c - log c``, so the
    ``k_i k_j`` cells are never divided. Nats; ``mi`` clamped to ``>= 0`` and ``js_mi`` to
    ``[0, ln 2]`` (rounding only). Float64 recommended: the sums are differences of terms of
    size ``ln k``.
    """
    first, second = sorted(d % joint_sum.dim() for d in dims)
    if first == second:
        raise ValueError(f"dims must name two different axes, got {dims}")
    cells = (first, second)
    total_kept = joint_sum.sum(dim=cells, keepdim=True)  # s, with both axes kept (size 1)
    total = total_kept.squeeze(second).squeeze(first)
    log_total = torch.log(total)
    row = joint_sum.sum(dim=second, keepdim=True)  # s P_I along ``first``
    col = joint_sum.sum(dim=first, keepdim=True)  # s P_J along ``second``
    plogp = xlogx_sum(joint_sum, dim=cells) / total - log_total
    qlogq = (xlogx_sum(row, dim=cells) + xlogx_sum(col, dim=cells)) / total - 2 * log_total
    # 2 s M = J + row col^T / s
    mixture = torch.addcmul(joint_sum, row / total_kept, col)
    mlogm = xlogx_sum(mixture, dim=cells) / (2 * total) - (log_total + LN2)
    js_mi = (0.5 * (plogp + qlogq) - mlogm).clamp(0.0, LN2)
    return js_mi, (plogp - qlogq).clamp_min(0.0)


def mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """Plug-in mutual information ``I(I;J) = KL(P_IJ || P_I (x) P_J)`` of a joint table.

    Args:
        joint: ``(..., k_i, k_j)`` non-negative tables (normalised here; float64 recommended).

    Returns:
        ``(...)`` tensor, nats, in ``[0, min(ln k_i, ln k_j)]``.
    """
    return joint_information(joint)[1]


def js_mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon mutual information ``JSD(P_IJ || P_I (x) P_J)`` of a joint table.

    Zero iff ``I`` and ``J`` are independent; at most ``ln 2``.

    Args:
        joint: ``(..., k_i, k_j)`` non-negative tables (normalised here; float64 recommended).

    Returns:
        ``(...)`` tensor, nats, in ``[0, ln 2]``.
    """
    return joint_information(joint)[0]


def entropy_of_probabilities(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy ``-sum_i p_i log p_i`` (nats) of probabilities ``(..., n)`` -> ``(...)``."""
    return -torch.xlogy(p, p).sum(dim=-1)
