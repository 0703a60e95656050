"""Per-token estimators: ``token-jsd``, ``miub-token``, ``norm-ratio``, ``cosine`` (docs/method.md §3.3-3.4).

Each is the mean over tokens of a per-token value ``v_t``. The state is the G group sums of
``v_t`` and the group token counts (float64); the standard error and the replicates are the
delete-a-group jackknife of the mean over G sequence groups (:mod:`.grouping`), so tokens of
one sequence, which are correlated, stay in one group. The mean is order-independent, so
streaming equals one-shot up to float rounding.

None of them is a dependence measure (docs/method.md §3.3, §3.8): ``token-jsd``,
``miub-token`` and ``norm-ratio`` barely move when the LoRA rows are permuted across tokens and
are explained by one branch alone; ``cosine`` sees only alignment (:class:`Cosine`).

- ``token-jsd``: ``v_t = JSD(softmax(o_t / tau) || softmax(l_t / tau))`` over all d features, or
  over the ``top_k`` features with the largest ``|o_t|`` (per token, renormalised). Nats in
  ``[0, ln 2]``. It is ``I(feature; branch | token)``: how distinguishable the two branches are.
- ``miub-token``: ``ln 2 - token-jsd`` -- the "log 2 - D_JS" reading of MIUB; ``ln 2`` when the
  LoRA branch's feature distribution mimics the base's, ``0`` when they are disjoint.
- ``norm-ratio``: ``v_t = ||l_t|| / ||o_t||`` (unitless).
- ``cosine``: ``v_t = <o_t, l_t> / (||o_t|| ||l_t||)`` (unitless, in ``[-1, 1]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from miub.estimators.distributions import LN2, js_divergence
from miub.estimators.feature_maps import to_log_probs
from miub.estimators.grouping import (
    N_GROUPS,
    accumulation_dtype,
    group_sum,
    jackknife_batched,
    token_groups,
)
from miub.estimators.references import DEFAULT_TAU
from miub.interface import EstimateResult

_NORM_EPS = 1e-30


class TokenMeanEstimator:
    """Base class: streaming mean of a per-token value ``v_t`` with a sequence-group jackknife.

    Subclasses implement :meth:`per_token` (``(T, d), (T, d) -> (T,)``) and :meth:`params`.
    """

    name = "token-mean"
    units = "nats"

    def __init__(self, n_groups: int = N_GROUPS) -> None:
        if n_groups < 2:
            raise ValueError(f"n_groups must be >= 2 (got {n_groups})")
        self.n_groups = n_groups
        self.sums_: torch.Tensor | None = None  # (G, m): sums of rows(): count, v_t, ...
        self.n_tokens_ = 0

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {"n_groups": self.n_groups}

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``, ``sequence_ids``
        ``(T,)`` int64 or None. No host sync."""
        n = base.shape[0]
        if n == 0:
            return
        rows = self.rows(base, lora)  # (T, m): count, v_t, ...
        groups = token_groups(n, self.n_tokens_, sequence_ids, self.n_groups, base.device)
        sums = group_sum(rows, groups, self.n_groups)  # (G, m)
        self.sums_ = sums if self.sums_ is None else self.sums_ + sums
        self.n_tokens_ += n

    def rows(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        """``(T, m)`` float64 per-token rows whose group sums are the state: ``(1, v_t)``."""
        values = self.per_token(base, lora).to(accumulation_dtype(base.device))  # (T,)
        return torch.stack([torch.ones_like(values), values], dim=1)  # (T, 2)

    @staticmethod
    def _statistic(totals: Sequence[torch.Tensor], n_tokens: torch.Tensor) -> torch.Tensor:
        """``(N, 1)`` means of stacked sums ``(N, 2)`` with token counts ``(N,)``."""
        return (totals[0][:, 1] / n_tokens)[:, None]

    def result(self) -> EstimateResult:
        if self.sums_ is None:
            nan = float("nan")
            return EstimateResult(self.name, nan, nan, 0, self.params(), {}, self.units)
        fit = jackknife_batched(self._statistic, [self.sums_], self.sums_[:, 0])
        return EstimateResult(
            self.name,
            fit.values[0],
            fit.stderrs[0],
            self.n_tokens_,
            self.params(),
            {},
            self.units,
            replicates={"value": fit.replicates[0]},
        )


class TokenJSD(TokenMeanEstimator):
    """``token-jsd`` = mean_t JSD(softmax(o_t / tau) || softmax(l_t / tau)), nats in [0, ln 2].

    Args:
        tau: softmax temperature.
        top_k: restrict each token to the ``top_k`` features of largest ``|o_t|`` (renormalised);
            ``None`` uses all d features.
        standardize: z-score each token's logits (per branch) before ``/ tau``; off by default,
            since docs/method.md §3.3 defines token-jsd on the raw outputs.
        n_groups: sequence groups G for the jackknife.
    """

    name = "token-jsd"

    def __init__(
        self,
        tau: float = DEFAULT_TAU,
        top_k: int | None = None,
        standardize: bool = False,
        n_groups: int = N_GROUPS,
    ) -> None:
        super().__init__(n_groups)
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
        return {
            "tau": self.tau,
            "top_k": self.top_k,
            "standardize": self.standardize,
            "n_groups": self.n_groups,
        }

    def result(self) -> EstimateResult:
        """The mean, plus ``miub_token = ln 2 - token_jsd`` (an affine map of the same mean: its
        SE and replicates follow exactly), so one pass serves both metrics."""
        estimate = super().result()
        if estimate.n_tokens == 0:
            return estimate
        extras = {"miub_token": LN2 - estimate.value, "miub_token_stderr": estimate.stderr}
        replicates = {
            **estimate.replicates,
            "miub_token": [LN2 - r for r in estimate.replicates["value"]],
        }
        return replace(estimate, extras={**estimate.extras, **extras}, replicates=replicates)


class MiubToken(TokenJSD):
    """``miub-token`` = ln 2 - token-jsd, nats in [0, ln 2] (same parameters as token-jsd)."""

    name = "miub-token"
    result = TokenMeanEstimator.result  # its value is already ln 2 - token-jsd: no extras

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        return LN2 - super().per_token(base, lora)


class NormRatio(TokenMeanEstimator):
    """``norm-ratio`` = mean_t ||l_t||_2 / ||o_t||_2 (unitless)."""

    name = "norm-ratio"
    units = "ratio"

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        return torch.div(lora.norm(dim=1), base.norm(dim=1).clamp_min(_NORM_EPS))  # (T,)


class Cosine(TokenMeanEstimator):
    """``cosine`` = mean_t <o_t, l_t> / (||o_t|| ||l_t||) (unitless, in [-1, 1]; 0 if a branch is 0).

    A baseline: it sees only dependence that is alignment in the same coordinates. On a trained
    tiny model it fails the pairing test (docs/method.md §3.8): in a module whose branches are
    clearly dependent (js-mi sees it) the value does not move when the pairing is broken.
    """

    name = "cosine"
    units = "cosine"

    def per_token(self, base: torch.Tensor, lora: torch.Tensor) -> torch.Tensor:
        norms = base.norm(dim=1) * lora.norm(dim=1)  # (T,)
        return torch.div((base * lora).sum(dim=1), norms.clamp_min(_NORM_EPS))  # (T,)
