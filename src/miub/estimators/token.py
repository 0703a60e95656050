"""Per-token estimators: ``token-jsd``, ``miub-token``, ``norm-ratio``, ``cosine`` (METHOD.md §3.3-3.4).

Each is the mean over tokens of a per-token value ``v_t``; the state is three float64 scalars
(count, ``sum v_t``, ``sum v_t^2``), and the standard error is ``std(v) / sqrt(T)`` with the
sample (``T - 1``) standard deviation. The mean is order-independent, so streaming equals
one-shot up to float rounding.

- ``token-jsd``: ``v_t = JSD(softmax(o_t / tau) || softmax(l_t / tau))`` over all d features, or
  over the ``top_k`` features with the largest ``|o_t|`` (per token, renormalised). Nats in
  ``[0, ln 2]``. It is ``I(feature; branch | token)``: how distinguishable the two branches are.
- ``miub-token``: ``ln 2 - token-jsd`` -- the "log 2 - D_JS" reading of MIUB; ``ln 2`` when the
  LoRA branch's feature distribution mimics the base's, ``0`` when they are disjoint.
- ``norm-ratio``: ``v_t = ||l_t|| / ||o_t||`` (unitless).
- ``cosine``: ``v_t = <o_t, l_t> / (||o_t|| ||l_t||)`` (unitless, in ``[-1, 1]``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from miub.estimators.distributions import LN2, js_divergence
from miub.estimators.feature_maps import to_log_probs
from miub.estimators.grouping import accumulation_dtype
from miub.interface import EstimateResult

_NORM_EPS = 1e-30


class TokenMeanEstimator:
    """Base class: streaming mean and standard error of a per-token value ``v_t``.

    Subclasses implement :meth:`per_token` (``(T, d), (T, d) -> (T,)``) and :meth:`params`.
    """

    name = "token-mean"
    units = "nats"

    def __init__(self) -> None:
        self.moments_: torch.Tensor | None = None  # (2,): sum v_t, sum v_t^2 (float64)
        self.n_tokens_ = 0

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def update(self, base: torch.Tensor, lora: torch.Tensor) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``. No host sync."""
        if base.shape[0] == 0:
            return
        values = self.per_token(base, lora).to(accumulation_dtype(base.device))  # (T,)
        moments = torch.stack([values.sum(), (values * values).sum()])  # (2,)
        self.moments_ = moments if self.moments_ is None else self.moments_ + moments
        self.n_tokens_ += base.shape[0]

    def _mean_and_stderr(self) -> tuple[float, float]:
        if self.moments_ is None:
            return math.nan, math.nan
        total, total_sq = self.moments_.tolist()
        n = self.n_tokens_
        mean = total / n
        if n < 2:
            return mean, math.nan
        variance = max(total_sq - n * mean * mean, 0.0) / (n - 1)
        return mean, math.sqrt(variance / n)

    def result(self) -> EstimateResult:
        mean, stderr = self._mean_and_stderr()
        return EstimateResult(
            self.name, mean, stderr, self.n_tokens_, self.params(), {}, self.units
        )


class TokenJSD(TokenMeanEstimator):
    """``token-jsd`` = mean_t JSD(softmax(o_t / tau) || softmax(l_t / tau)), nats in [0, ln 2].

    Args:
        tau: softmax temperature.
        top_k: restrict each token to the ``top_k`` features of largest ``|o_t|`` (renormalised);
            ``None`` uses all d features.
        standardize: z-score each token's logits (per branch) before ``/ tau``; off by default,
            since METHOD.md §3.3 defines token-jsd on the raw outputs.
    """

    name = "token-jsd"

    def __init__(
        self, tau: float = 1.0, top_k: int | None = None, standardize: bool = False
    ) -> None:
        super().__init__()
        if tau <= 0:
            raise ValueError(f"tau must be > 0 (got {tau})")
        if top_k is not None and top_k < 2:
            raise ValueError(f"top_k must be >= 2 or None (got {top_k})")
        self.tau = float(tau)
        self.top_k = top_k
        self.standardize = bool(standardize)

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        if self.top_k is not None and self.top_k < base.shape[1]:
            index = torch.topk(base.abs(), self.top_k, dim=1).indices  # (T, top_k)
            base, lora = base.gather(1, index), lora.gather(1, index)  # (T, top_k) each
        log_p = to_log_probs(base, self.tau, self.standardize)  # (T, d')
        log_q = to_log_probs(lora, self.tau, self.standardize)  # (T, d')
        return js_divergence(log_p, log_q)  # (T,)

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "top_k": self.top_k, "standardize": self.standardize}


class MiubToken(TokenJSD):
    """``miub-token`` = ln 2 - token-jsd, nats in [0, ln 2] (same parameters as token-jsd)."""

    name = "miub-token"

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        return LN2 - super().per_token(base, lora)


class NormRatio(TokenMeanEstimator):
    """``norm-ratio`` = mean_t ||l_t||_2 / ||o_t||_2 (unitless)."""

    name = "norm-ratio"
    units = "ratio"

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        return lora.norm(dim=1) / base.norm(dim=1).clamp_min(_NORM_EPS)


class Cosine(TokenMeanEstimator):
    """``cosine`` = mean_t <o_t, l_t> / (||o_t|| ||l_t||) (unitless, in [-1, 1]; 0 if a branch is 0)."""

    name = "cosine"
    units = "cosine"

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        norms = base.norm(dim=1) * lora.norm(dim=1)  # (T,)
        return (base * lora).sum(dim=1) / norms.clamp_min(_NORM_EPS)
