"""Feature-joint estimators: ``js-mi`` (default), ``mi`` and ``dpi`` (docs/method.md §3.1-3.2).

Each token's branch outputs are mapped to k features (:mod:`.feature_maps`, k clamped to d) and
turned into distributions ``p_t = softmax(std(o_t R) / tau)`` (base) and
``q_t = softmax(std(l_t R) / tau)`` (LoRA), where ``std`` is the optional per-token z-score
(``standardize=True`` by default). Over the T tokens of the eval set,

    P(i, j) = (1/T) sum_t p_t(i) q_t(j),    P_I = (1/T) sum_t p_t,    P_J = (1/T) sum_t q_t,

    js-mi = JSD(P_IJ || P_I (x) P_J)                      in [0, ln 2]
    mi    = KL(P_IJ || P_I (x) P_J) = I(I; J)             in [0, ln k]   (plug-in MI)
    dpi   = min(I(I; T), I(J; T)),  I(J; T) = H(P_J) - (1/T) sum_t H(q_t)  >= mi

``dpi`` bounds ``mi`` by data processing, but it is a function of each branch's marginal
information about the token only: it does not change when the pairing of the branches is
broken, so the registry lists it as a baseline (docs/method.md §3.2).

Reference points of ``js-mi`` and ``mi`` (docs/method.md §3.7), from the same pass:

    null      = the statistic of P_null(i, j) = (1/T) sum_t p_t(i) q_pi(t)(j), where pi pairs
                each token with a token of another batch (:class:`.references.PairingNull`:
                pairing broken, marginals kept);
    ceiling   = the statistic of P_ceil(i, j) = (1/T) sum_t p_t(i) p_t(j) (LoRA branch := base);
    corrected = jackknife bias-corrected value G' v - (G' - 1) mean_g v_(g);
    normalized = (v - null) / (ceiling - null)  (0 at independence, 1 at the ceiling; not
                clamped, so sampling noise can take it slightly outside [0, 1]).

State: G group sums of ``p_t``, ``q_t`` and ``H(p_t)``, ``H(q_t)`` (G, 2k + 2) and of the three
joints (G, k, k); distributions and per-token entropies in float64 (float32 cancels in
``I(J;T)`` for a near-uniform q). Values are plug-in; standard errors and replicates come from
the delete-a-group jackknife over G sequence groups (:mod:`.grouping`). Units: nats.
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
    group_outer,
    group_sum,
    jackknife,
    token_groups,
)
from miub.estimators.references import (
    DEFAULT_K,
    DEFAULT_TAU,
    PairingNull,
    normalized,
    reference_extras,
)
from miub.interface import EstimateResult

_PLAIN = ("js_mi", "mi", "dpi", "base_token_mi", "lora_token_mi")
_REFERENCED = ("js_mi", "mi")  # statistics with reference points (dependence measures)


class FeatureJointEstimator:
    """Streaming estimator of the base/LoRA feature joint; reports ``js-mi``, ``mi``, ``dpi``.

    Args:
        k: number of features of the alphabet (clamped to d; ignored by ``"identity"``).
        tau: softmax temperature (default from ``benchmarks/estimator_calibration.py``).
        feature_map: ``"projection"`` (seeded Gaussian d -> k), ``"topk"`` or ``"identity"``.
        seed: seed of the projection and of the null's pairing permutation.
        standardize: z-score each token's k logits before ``/ tau`` and the softmax.
        n_groups: sequence groups G for the jackknife.
    """

    name = "feature-joint"
    primary = "js_mi"
    references = True

    def __init__(
        self,
        k: int = DEFAULT_K,
        tau: float = DEFAULT_TAU,
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
        self.seed = seed
        self.feature_map_ = FeatureMap(feature_map, k, seed)
        self.sums_: torch.Tensor | None = None  # (G, 2k + 2): p, q, H(p_t), H(q_t)
        self.joints_: torch.Tensor | None = None  # (G, 3, k, k): sum p q^T, p q_pi^T, p p^T
        self.counts_: torch.Tensor | None = None  # (G,) tokens per group
        self.null_ = PairingNull(seed)
        self.n_tokens_ = 0

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``, ``sequence_ids``
        ``(T,)`` int64 or None. No host sync."""
        if base.shape[0] == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        self._add_logits(self.feature_map_(base), self.feature_map_(lora), sequence_ids)

    def update_factored(
        self,
        base: torch.Tensor,
        lora_inner: torch.Tensor,
        lora_up: torch.Tensor,
        sequence_ids: torch.Tensor | None = None,
    ) -> None:
        """Same as ``update(base, lora_inner @ lora_up, sequence_ids)`` in low-rank form.

        ``lora_inner`` = A x, ``(T, r)``; ``lora_up`` = s Bᵀ, ``(r, d)``. The feature map is
        linear, so ``map(l) = lora_inner @ map(lora_up)``: r·k instead of d·k flops per token.
        """
        if base.shape[0] == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        lora_logits = lora_inner @ self.feature_map_(lora_up)  # (T, r) @ (r, k) -> (T, k)
        self._add_logits(self.feature_map_(base), lora_logits, sequence_ids)

    def _add_logits(
        self,
        base_logits: torch.Tensor,
        lora_logits: torch.Tensor,
        sequence_ids: torch.Tensor | None,
    ) -> None:
        """Accumulate the state from mapped logits ``(T, k)`` of both branches."""
        n, k = base_logits.shape
        device = base_logits.device
        dtype = accumulation_dtype(device)
        log_p = to_log_probs(base_logits.to(dtype), self.tau, self.standardize)  # (T, k)
        log_q = to_log_probs(lora_logits.to(dtype), self.tau, self.standardize)  # (T, k)
        p, q = log_p.exp(), log_q.exp()
        # log_softmax of finite logits is finite, so the plain -sum p log p is safe here.
        entropy_p = -(p * log_p).sum(dim=1, keepdim=True)  # (T, 1)
        entropy_q = -(q * log_q).sum(dim=1, keepdim=True)  # (T, 1)
        groups = token_groups(n, self.n_tokens_, sequence_ids, self.n_groups, device)  # (T,)
        rows = torch.cat([p, q, entropy_p, entropy_q], dim=1)  # (T, 2k + 2)
        joints = [group_outer(p, q, groups, self.n_groups)]  # (G, k, k)
        if self.references:
            partners = self.null_.pair(p, q, groups)  # (T, k) LoRA rows of other tokens
            null = torch.zeros_like(joints[0])
            if partners is not None:
                null = group_outer(p, partners, groups, self.n_groups)
            joints += [null, group_outer(p, p, groups, self.n_groups)]
        ones = torch.ones(n, 1, dtype=dtype, device=device)
        if self.sums_ is None or self.joints_ is None or self.counts_ is None:
            self.sums_ = torch.zeros(self.n_groups, 2 * k + 2, dtype=dtype, device=device)
            self.joints_ = torch.zeros(self.n_groups, len(joints), k, k, dtype=dtype, device=device)
            self.counts_ = torch.zeros(self.n_groups, dtype=dtype, device=device)
        self.sums_ += group_sum(rows, groups, self.n_groups)
        self.joints_ += torch.stack(joints, dim=1)
        self.counts_ += group_sum(ones, groups, self.n_groups)[:, 0]
        self.n_tokens_ += n

    @staticmethod
    def _statistics(totals: Sequence[torch.Tensor], n_tokens: float) -> torch.Tensor:
        """js_mi, mi, dpi, I(I;T), I(J;T), then (null, ceiling, normalized) of js_mi and mi."""
        sums, joints = totals
        k = joints.shape[-1]
        mean_p, mean_q = sums[:k] / n_tokens, sums[k : 2 * k] / n_tokens  # (k,), (k,)
        base_token_mi = entropy_of_probabilities(mean_p) - sums[2 * k] / n_tokens
        lora_token_mi = entropy_of_probabilities(mean_q) - sums[2 * k + 1] / n_tokens
        base_token_mi, lora_token_mi = base_token_mi.clamp_min(0), lora_token_mi.clamp_min(0)
        dpi = torch.minimum(base_token_mi, lora_token_mi)

        def pair(joint_sum: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            joint = joint_sum / joint_sum.sum()  # (k, k)
            return js_mutual_information(joint), mutual_information(joint)

        js_mi, mi = pair(joints[0])
        values = [js_mi, mi, dpi, base_token_mi, lora_token_mi]
        if joints.shape[0] == 3:
            (js_null, mi_null), (js_ceil, mi_ceil) = pair(joints[1]), pair(joints[2])
            values += [js_null, js_ceil, normalized(js_mi, js_null, js_ceil)]
            values += [mi_null, mi_ceil, normalized(mi, mi_null, mi_ceil)]
        return torch.stack(values)

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
        names = list(_PLAIN)
        if self.references:
            for stat in _REFERENCED:
                names += [f"{stat}_null", f"{stat}_ceiling", f"{stat}_normalized"]
        if self.sums_ is None or self.joints_ is None or self.counts_ is None:
            nan = float("nan")
            return EstimateResult(self.name, nan, nan, 0, self.params(), {})
        joints = self.joints_
        pending = self.null_.pending() if self.references else None
        if pending is not None:  # the first batch's null pairs, with the latest batch
            first_p, partners, groups = pending
            joints = joints.clone()
            joints[:, 1] += group_outer(first_p, partners, groups, self.n_groups)
        state = [self.sums_, joints]
        fit = jackknife(self._statistics, state, self.counts_)
        index = {name: i for i, name in enumerate(names)}
        main = index[self.primary]
        extras: dict[str, float] = {}
        replicates: dict[str, list[float]] = {"value": fit.replicates[main]}
        if self.references:
            extras.update(reference_extras(fit, index, self.primary))
            replicates["normalized"] = fit.replicates[index[f"{self.primary}_normalized"]]
        for key in _PLAIN:
            if key != self.primary:
                extras[key] = fit.values[index[key]]
                extras[f"{key}_stderr"] = fit.stderrs[index[key]]
                replicates[key] = fit.replicates[index[key]]
        return EstimateResult(
            self.name,
            fit.values[main],
            fit.stderrs[main],
            self.n_tokens_,
            self.params(),
            extras,
            replicates=replicates,
        )


class JSMutualInformation(FeatureJointEstimator):
    """``js-mi`` = JSD(P_IJ || P_I (x) P_J), nats in [0, ln 2]; reference points in extras."""

    name = "js-mi"
    primary = "js_mi"


class PluginMutualInformation(FeatureJointEstimator):
    """``mi`` = KL(P_IJ || P_I (x) P_J) = I(I; J), nats in [0, ln k]; reference points in extras."""

    name = "mi"
    primary = "mi"


class DataProcessingBound(FeatureJointEstimator):
    """``dpi`` = min(I(I;T), I(J;T)) >= I(I;J), nats in [0, ln k]: a baseline (marginals only)."""

    name = "dpi"
    primary = "dpi"
    references = False
