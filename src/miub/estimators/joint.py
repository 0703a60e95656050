"""Feature-joint estimators: ``js-mi`` (default), ``mi`` and ``dpi`` (METHOD.md §3.1-3.2).

Each token's branch outputs are mapped to k features (:mod:`.feature_maps`) and turned into
distributions ``p_t = softmax(std(o_t R) / tau)`` (base) and ``q_t = softmax(std(l_t R) / tau)``
(LoRA), where ``std`` is the optional per-token z-score (``standardize=True`` by default). Over
the T tokens of the eval set,

    P(i, j) = (1/T) sum_t p_t(i) q_t(j),    P_I = (1/T) sum_t p_t,    P_J = (1/T) sum_t q_t,

    js-mi = JSD(P_IJ || P_I (x) P_J)                      in [0, ln 2]   (MIUB reading of
                                                                          D_JS(P_OL || P_O P_L))
    mi    = KL(P_IJ || P_I (x) P_J) = I(I; J)             in [0, ln k]   (plug-in MI)
    dpi   = min(I(I; T), I(J; T)),  I(J; T) = H(P_J) - (1/T) sum_t H(q_t)  >= mi

``dpi`` bounds ``mi`` by data processing: I and J are independent given the token. All three are
computed from the same state -- G group sums of ``p_t q_t^T`` (G, k, k), ``p_t``, ``q_t`` (G, k)
and ``H(p_t)``, ``H(q_t)`` (G,) -- so each reports the other two in ``extras``. Values are
plug-in (not bias-corrected); standard errors are the delete-a-group jackknife over G = 16
interleaved token groups (:mod:`.grouping`). Units: nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from miub.estimators.distributions import (
    entropy_of_probabilities,
    js_mutual_information,
    mutual_information,
)
from miub.estimators.feature_maps import FeatureMap, to_log_probs
from miub.estimators.grouping import (
    N_GROUPS,
    accumulation_dtype,
    group_counts,
    group_rows,
    jackknife,
)
from miub.interface import EstimateResult

_STATISTICS = ("js_mi", "mi", "dpi", "base_token_mi", "lora_token_mi")


class FeatureJointEstimator:
    """Streaming estimator of the base/LoRA feature joint; reports ``js-mi``, ``mi``, ``dpi``.

    Args:
        k: number of features of the alphabet (ignored by ``feature_map="identity"``).
        tau: softmax temperature.
        feature_map: ``"projection"`` (seeded Gaussian d -> k), ``"topk"`` or ``"identity"``.
        seed: seed of the projection.
        standardize: z-score each token's k logits before ``/ tau`` and the softmax.
        n_groups: interleaved token groups for the jackknife standard error.
    """

    name = "feature-joint"
    primary = "js_mi"

    def __init__(
        self,
        k: int = 64,
        tau: float = 1.0,
        feature_map: str = "projection",
        seed: int = 0,
        standardize: bool = True,
        n_groups: int = N_GROUPS,
    ) -> None:
        if tau <= 0:
            raise ValueError(f"tau must be > 0 (got {tau})")
        if n_groups < 2:
            raise ValueError(f"n_groups must be >= 2 (got {n_groups})")
        self.tau = float(tau)
        self.standardize = bool(standardize)
        self.n_groups = n_groups
        self.feature_map_ = FeatureMap(feature_map, k, seed)
        self.sums_: torch.Tensor | None = None  # (G, 2k + 2): p, q, H(p_t), H(q_t)
        self.joint_: torch.Tensor | None = None  # (G, k, k): sum_t p_t q_t^T
        self.counts_ = [0] * n_groups
        self.n_tokens_ = 0

    def update(self, base: torch.Tensor, lora: torch.Tensor) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``. No host sync."""
        if base.shape[0] == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        self._add_logits(self.feature_map_(base), self.feature_map_(lora))

    def update_factored(
        self, base: torch.Tensor, lora_inner: torch.Tensor, lora_up: torch.Tensor
    ) -> None:
        """Same as ``update(base, lora_inner @ lora_up)`` with the LoRA branch in low-rank form.

        ``lora_inner`` = A x, ``(T, r)``; ``lora_up`` = s Bᵀ, ``(r, d)``. The feature map is
        linear, so ``map(l) = lora_inner @ map(lora_up)``: r·k instead of d·k flops per token.
        """
        if base.shape[0] == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        lora_logits = lora_inner @ self.feature_map_(lora_up)  # (T, r) @ (r, k) -> (T, k)
        self._add_logits(self.feature_map_(base), lora_logits)

    def _add_logits(self, base_logits: torch.Tensor, lora_logits: torch.Tensor) -> None:
        """Accumulate the state from mapped logits ``(T, k)`` of both branches."""
        n = base_logits.shape[0]
        device = base_logits.device
        log_p = to_log_probs(base_logits, self.tau, self.standardize)  # (T, k)
        log_q = to_log_probs(lora_logits, self.tau, self.standardize)  # (T, k)
        p, q = log_p.exp(), log_q.exp()
        k = p.shape[1]
        # log_softmax of finite logits is finite, so the plain -sum p log p is safe here.
        entropy_p = -(p * log_p).sum(dim=1, keepdim=True)  # (T, 1)
        entropy_q = -(q * log_q).sum(dim=1, keepdim=True)  # (T, 1)
        rows = torch.cat([p, q, entropy_p, entropy_q], dim=1)  # (T, 2k + 2)
        grouped = group_rows(rows, self.n_tokens_, self.n_groups)  # (n, G, 2k + 2)
        p_g = grouped[..., :k].transpose(0, 1)  # (G, n, k)
        q_g = grouped[..., k : 2 * k].transpose(0, 1)  # (G, n, k)
        joint = torch.bmm(p_g.transpose(1, 2), q_g)  # (G, k, k)
        if self.sums_ is None or self.joint_ is None:
            dtype = accumulation_dtype(device)
            self.sums_ = torch.zeros(self.n_groups, 2 * k + 2, dtype=dtype, device=device)
            self.joint_ = torch.zeros(self.n_groups, k, k, dtype=dtype, device=device)
        self.sums_ += grouped.sum(dim=0)
        self.joint_ += joint
        added = group_counts(self.n_tokens_, n, self.n_groups)
        self.counts_ = [c + a for c, a in zip(self.counts_, added, strict=True)]
        self.n_tokens_ += n

    @staticmethod
    def _statistics(totals: Sequence[torch.Tensor], n_tokens: int) -> torch.Tensor:
        """``(5,)``: js_mi, mi, dpi, I(I;T), I(J;T) from summed state (nats)."""
        sums, joint_sum = totals
        k = joint_sum.shape[0]
        joint = joint_sum / joint_sum.sum()  # (k, k)
        mean_p, mean_q = sums[:k] / n_tokens, sums[k : 2 * k] / n_tokens  # (k,), (k,)
        base_token_mi = entropy_of_probabilities(mean_p) - sums[2 * k] / n_tokens
        lora_token_mi = entropy_of_probabilities(mean_q) - sums[2 * k + 1] / n_tokens
        base_token_mi, lora_token_mi = base_token_mi.clamp_min(0), lora_token_mi.clamp_min(0)
        dpi = torch.minimum(base_token_mi, lora_token_mi)
        mi = mutual_information(joint)
        return torch.stack([js_mutual_information(joint), mi, dpi, base_token_mi, lora_token_mi])

    def params(self) -> dict[str, Any]:
        fmap = self.feature_map_
        k = fmap.out_features if fmap.fitted else fmap.k
        return {
            "k": k,
            "tau": self.tau,
            "feature_map": fmap.kind,
            "seed": fmap.seed,
            "standardize": self.standardize,
            "n_groups": self.n_groups,
        }

    def result(self) -> EstimateResult:
        """Reduce the state; value is this estimator's statistic, the others go to extras."""
        if self.sums_ is None or self.joint_ is None:
            values = stderrs = [float("nan")] * len(_STATISTICS)
        else:
            state = [self.sums_, self.joint_]
            values, stderrs = jackknife(self._statistics, state, self.counts_)
        by_name = dict(zip(_STATISTICS, zip(values, stderrs, strict=True), strict=True))
        value, stderr = by_name.pop(self.primary)
        extras: dict[str, float] = {}
        for key, (v, se) in by_name.items():
            extras[key] = v
            extras[f"{key}_stderr"] = se
        return EstimateResult(self.name, value, stderr, self.n_tokens_, self.params(), extras)


class JSMutualInformation(FeatureJointEstimator):
    """``js-mi`` = JSD(P_IJ || P_I (x) P_J), nats in [0, ln 2]; extras: mi, dpi, token MIs."""

    name = "js-mi"
    primary = "js_mi"


class PluginMutualInformation(FeatureJointEstimator):
    """``mi`` = KL(P_IJ || P_I (x) P_J) = I(I; J), nats in [0, ln k]; extras: js_mi, dpi."""

    name = "mi"
    primary = "mi"


class DataProcessingBound(FeatureJointEstimator):
    """``dpi`` = min(I(I;T), I(J;T)) >= I(I;J), nats in [0, ln k]; extras: js_mi, mi."""

    name = "dpi"
    primary = "dpi"
