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


def _xlogy_ratio(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Sum of ``p log(p / q)`` over all elements with ``0 log 0 = 0``; ``p, q`` same shape."""
    return (torch.xlogy(p, p) - torch.xlogy(p, q)).sum()


def mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """Plug-in mutual information ``I(I;J) = KL(P_IJ || P_I (x) P_J)`` of a joint table.

    Args:
        joint: ``(k_i, k_j)`` non-negative table summing to 1 (float64 recommended).

    Returns:
        Scalar tensor, nats, in ``[0, min(ln k_i, ln k_j)]``.
    """
    product = joint.sum(dim=1, keepdim=True) * joint.sum(dim=0, keepdim=True)  # (k_i, k_j)
    return _xlogy_ratio(joint, product).clamp_min(0.0)


def js_mutual_information(joint: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon mutual information ``JSD(P_IJ || P_I (x) P_J)`` of a joint table.

    Zero iff ``I`` and ``J`` are independent; at most ``ln 2``.

    Args:
        joint: ``(k_i, k_j)`` non-negative table summing to 1 (float64 recommended).

    Returns:
        Scalar tensor, nats, in ``[0, ln 2]``.
    """
    product = joint.sum(dim=1, keepdim=True) * joint.sum(dim=0, keepdim=True)  # (k_i, k_j)
    mixture = 0.5 * (joint + product)
    jsd = 0.5 * (_xlogy_ratio(joint, mixture) + _xlogy_ratio(product, mixture))
    return jsd.clamp(0.0, LN2)


def entropy_of_probabilities(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy ``-sum_i p_i log p_i`` (nats) of probabilities ``(..., n)`` -> ``(...)``."""
    return -torch.xlogy(p, p).sum(dim=-1)
