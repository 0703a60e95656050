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

State: G group sums of ``H(p_t)``, ``H(q_t)`` and the token count (``sums_``, G x 3) and of
the three joints (the marginal sums of ``p_t``, ``q_t`` are the row and column sums of the
first, as each ``p_t``, ``q_t`` sums to 1), stored side by side as ``pairs_``
(G, k, 3, k) = ``sum_t p_t [q_t, p_t, q_pi(t)]^T`` so one matmul per run of one group's rows
updates all three (``joints_`` is the (G, 3, k, k) view in the order above). Precision: each
batch's distributions, entropies and products are computed in the input's float32 (relative
rounding ~1e-7 within one batch) and added to float64 running sums, which is what keeps many
batches exact; the reduction (:meth:`result`) is float64 throughout. Agreement with a float64
reference is ~1e-8 relative (``tests/estimators/test_numpy_reference.py``). Both
branches are mapped into one (2T, k) buffer and go through the softmax together. Values are
plug-in; standard errors and replicates come from the delete-a-group jackknife over G
sequence groups (:mod:`.grouping`), with every statistic evaluated once on the stack of the
full and the G' leave-one-group-out totals (2 logarithms per joint cell,
:func:`.distributions.joint_information`). Units: nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from miub.estimators.distributions import entropy_of_probabilities, joint_information
from miub.estimators.feature_maps import FeatureMap, to_probs_and_entropies
from miub.estimators.grouping import (
    N_GROUPS,
    Jackknife,
    accumulation_dtype,
    group_outer,
    group_outer_stacked,
    group_sum,
    jackknife_stacked,
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
FLUSH_TOKENS = 1024
"""Batches of fewer tokens are held and accumulated together (:meth:`FeatureJointEstimator._add_logits`)."""
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
        hold_tokens: batches are held until this many tokens arrived, then accumulated as
            one (1: every batch at once). Only the null depends on it (by which rows it
            re-pairs); every other number is the same.
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
        hold_tokens: int = FLUSH_TOKENS,
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
        self.sums_: torch.Tensor | None = None  # (G, 3): sums of H(p_t), H(q_t) and the count
        # (G, k, 3, k): sum p q^T, p p^T, p q_pi^T; on CPU only groups with tokens are set
        self.pairs_: torch.Tensor | None = None
        self.up_cache_: tuple[torch.Tensor, int, torch.Tensor] | None = None  # up, version, map
        self.null_ = PairingNull(seed)
        self.n_tokens_ = 0
        self.hold_tokens = max(1, int(hold_tokens))
        self.held_: list[tuple[torch.Tensor, torch.Tensor]] = []  # small batches: logits, groups
        self.n_held_ = 0

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``, ``sequence_ids``
        ``(T,)`` int64 or None. No host sync (but on CPU, see :func:`.grouping.group_outer`)."""
        if base.shape[0] == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        self._add_logits(self.feature_map_.map_pair(base, lora), sequence_ids)

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
        ``map(lora_up)`` ``(r, k)`` is reused while ``lora_up`` is the same, unmodified tensor
        (by its version counter; inference tensors, which have none, are mapped every call).
        """
        n = base.shape[0]
        if n == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        if lora_up.is_inference():  # no version counter: map it every time
            mapped_up = self.feature_map_(lora_up)  # (r, k)
        else:
            cache = self.up_cache_
            if cache is None or cache[0] is not lora_up or cache[1] != lora_up._version:
                cache = (lora_up, lora_up._version, self.feature_map_(lora_up))  # (r, k)
                self.up_cache_ = cache
            mapped_up = cache[2]
        logits = self.feature_map_.map_pair(base, None)  # (2T, k), rows T: still empty
        torch.mm(lora_inner, mapped_up, out=logits[n:])  # (T, r) @ (r, k)
        self._add_logits(logits, sequence_ids)

    def _add_logits(self, logits: torch.Tensor, sequence_ids: torch.Tensor | None) -> None:
        """Take one batch's mapped logits ``(2T, k)`` (base rows, then LoRA rows).

        Small batches are held (as logits, 2·k floats per token) until ``hold_tokens`` have
        arrived and then accumulated as one batch: the per-batch work is a fixed number of
        tensor operations, so many small forwards (an evaluation of short questions) would
        otherwise pay it each time. Memory: at most ``2 · FLUSH_TOKENS · k`` floats held.
        """
        n = logits.shape[0] // 2
        groups = token_groups(n, self.n_tokens_, sequence_ids, self.n_groups, logits.device)
        self.n_tokens_ += n
        self.held_.append((logits, groups))
        self.n_held_ += n
        if self.n_held_ >= self.hold_tokens:
            self._flush()

    def _flush(self) -> None:
        """Accumulate the held batches (as one batch, in arrival order) into the state."""
        if not self.held_:
            return
        held, self.held_, self.n_held_ = self.held_, [], 0
        if len(held) == 1:
            logits, groups = held[0]
        else:
            sizes = [item[1].shape[0] for item in held]
            base = [logits[:n] for (logits, _), n in zip(held, sizes, strict=True)]
            lora = [logits[n:] for (logits, _), n in zip(held, sizes, strict=True)]
            logits = torch.cat(base + lora)  # (2T, k): every base row, then every LoRA row
            groups = torch.cat([item[1] for item in held])  # (T,)
        self._accumulate(logits, groups)

    def _accumulate(self, logits: torch.Tensor, groups: torch.Tensor) -> None:
        """Add mapped logits ``(2T, k)`` with token groups ``(T,)`` to the state."""
        n, k = logits.shape[0] // 2, logits.shape[1]
        device = logits.device
        dtype = accumulation_dtype(device)
        # per-token work in float32 (one batch: relative rounding ~1e-7), running sums in
        # float64 (sums over many batches would lose digits in float32)
        probs, entropies = to_probs_and_entropies(logits, self.tau, self.standardize)
        p, q = probs[:n], probs[n:]  # (T, k) each
        ones = torch.ones(n, 1, dtype=dtype, device=device)
        rows = torch.cat([entropies.to(dtype).view(2, n).T, ones], dim=1)  # (T, 3): H(p), H(q), 1
        n_joints = 3 if self.references else 1
        if self.sums_ is None or self.pairs_ is None:
            self.sums_ = torch.zeros(self.n_groups, 3, dtype=dtype, device=device)
            shape = (self.n_groups, k, n_joints, k)
            if device.type == "cpu":  # groups zeroed when first used: a fresh capture does not
                # page-fault and clear 16 groups' 1.5 MB when one batch fills two of them
                self.pairs_ = torch.empty(shape, dtype=dtype, device=device)
            else:
                self.pairs_ = torch.zeros(shape, dtype=dtype, device=device)
        if self.pairs_.device.type == "cpu":  # zero the groups that get their first tokens
            present = torch.unique(groups)  # (g,)
            self.pairs_[present[self.sums_[present, -1] == 0]] = 0.0
        # right factors of the joints, in the order of pairs_: q, p, then the null partners
        right = [q]
        if self.references:
            partners = self.null_.pair(p, q, groups)  # (T, k) LoRA rows of other tokens
            right += [p] if partners is None else [p, partners]
        used = self.pairs_[:, :, : len(right)].view(self.n_groups, k, len(right) * k)
        group_outer(p, torch.cat(right, dim=1), groups, self.n_groups, out=used)  # (G, k, J'k)
        group_sum(rows, groups, self.n_groups, out=self.sums_)

    @property
    def zeroed_(self) -> set[int]:
        """Groups whose ``pairs_`` are set: those with tokens (on CPU the others are unset)."""
        self._flush()
        return (
            set()
            if self.sums_ is None
            else set(torch.nonzero(self.sums_[:, -1]).flatten().tolist())
        )

    @property
    def counts_(self) -> torch.Tensor | None:
        """``(G,)`` tokens per group (the last column of ``sums_``)."""
        self._flush()
        return None if self.sums_ is None else self.sums_[:, -1]

    @property
    def joints_(self) -> torch.Tensor | None:
        """``(G, 3, k, k)`` group sums of ``p q^T``, ``p q_pi^T``, ``p p^T`` (``(G, 1, k, k)``
        for ``dpi``): the state ``pairs_`` in the order of docs/method.md §3.7, without the
        first batch's null pairs (added at :meth:`result`)."""
        self._flush()
        if self.pairs_ is None or self.sums_ is None:
            return None
        order = [0, 2, 1] if self.pairs_.shape[2] == 3 else [0]
        used = (self.sums_[:, -1] > 0)[:, None, None, None]  # groups never used are unset
        pairs = torch.where(used, self.pairs_, torch.zeros((), dtype=self.pairs_.dtype))
        return pairs.permute(0, 2, 1, 3)[:, order]

    @staticmethod
    def _statistics(totals: Sequence[torch.Tensor], n_tokens: torch.Tensor) -> torch.Tensor:
        """``(N, m)``: js_mi, mi, dpi, I(I;T), I(J;T), then (null, ceiling, normalized) of js_mi
        and mi, of stacked totals ``sums`` ``(N, 3)``, ``pairs`` ``(N, k, J, k)`` and
        optionally the first batch's null pairs ``(N, k, k)``."""
        sums, pairs, *pending = totals
        if pending:  # (N, k, k) the first batch's null pairs (stacks are fresh: add in place)
            pairs[:, :, 2] += pending[0]
        n = n_tokens[:, None]  # (N, 1)
        # marginals from the joint: sum_j p_t(i) q_t(j) = p_t(i) as sum_j q_t(j) = 1
        joint = pairs[:, :, 0]  # (N, k, k)
        mean_p, mean_q = joint.sum(dim=-1) / n, joint.sum(dim=-2) / n  # (N, k), (N, k)
        base_token_mi = entropy_of_probabilities(mean_p) - sums[:, 0] / n_tokens  # (N,)
        lora_token_mi = entropy_of_probabilities(mean_q) - sums[:, 1] / n_tokens
        base_token_mi, lora_token_mi = base_token_mi.clamp_min(0), lora_token_mi.clamp_min(0)
        dpi = torch.minimum(base_token_mi, lora_token_mi)
        # reduced in the state's own (N, k, J, k) layout: no transposed copy of the stacks
        # (measured: 20 % less time per module than copying to (N, J, k, k) first)
        js, mi = joint_information(pairs, dims=(1, 3))  # (N, J) each
        values = [js[:, 0], mi[:, 0], dpi, base_token_mi, lora_token_mi]
        if pairs.shape[2] == 3:  # pairs_ order: joint, ceiling, null
            values += [js[:, 2], js[:, 1], normalized(js[:, 0], js[:, 2], js[:, 1])]
            values += [mi[:, 2], mi[:, 1], normalized(mi[:, 0], mi[:, 2], mi[:, 1])]
        return torch.stack(values, dim=1)

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
            "hold_tokens": self.hold_tokens,
        }

    def _names(self) -> list[str]:
        """Names of the columns of :meth:`_statistics`, in order."""
        names = list(_PLAIN)
        if self.references:
            for stat in _REFERENCED:
                names += [f"{stat}_null", f"{stat}_ceiling", f"{stat}_normalized"]
        return names

    def result(self) -> EstimateResult:
        """Reduce the state; value is this estimator's statistic, the others go to extras."""
        return self.result_many([self])[0]

    @classmethod
    def result_many(cls, estimators: Sequence[FeatureJointEstimator]) -> list[EstimateResult]:
        """:meth:`result` of each estimator (e.g. one per LoRA module), reduced together.

        Estimators of one class with equally shaped state and equal group counts (the modules
        of one capture saw the same tokens) are stacked, ``(M, G, ...)``, and reduced by one
        jackknife (:func:`.grouping.jackknife_stacked`): the same numbers as M separate
        reductions, without M times the per-call (kernel launch) overhead. On CPU they are
        reduced one at a time: there the reduction is bound by memory traffic, and one module's
        stacks (~2 MB at k = 64) stay in cache while M modules' do not (measured: batching 14
        modules took 1.6-2.5x the time of 14 single reductions).
        """
        results: list[EstimateResult | None] = [None] * len(estimators)
        by_shape: dict[tuple[Any, ...], list[int]] = {}
        for i, estimator in enumerate(estimators):
            estimator._flush()
            pairs = estimator.pairs_
            if estimator.sums_ is None or pairs is None:
                nan = float("nan")
                results[i] = EstimateResult(estimator.name, nan, nan, 0, estimator.params(), {})
                continue
            key = (type(estimator), estimator.references, pairs.shape, pairs.dtype, pairs.device)
            by_shape.setdefault(key, []).append(i)
        for members in by_shape.values():
            counts = torch.stack([estimators[i].sums_[:, -1] for i in members])  # type: ignore[index]
            by_counts: dict[tuple[float, ...], list[int]] = {}
            for i, row in zip(members, counts.tolist(), strict=True):  # one host copy
                by_counts.setdefault(tuple(row), []).append(i)
            for row, batch in by_counts.items():
                size = 1 if estimators[batch[0]].pairs_.device.type == "cpu" else len(batch)  # type: ignore[union-attr]
                for start in range(0, len(batch), size):
                    chunk = batch[start : start + size]
                    fits = cls._reduce([estimators[i] for i in chunk], row)
                    for i, fit in zip(chunk, fits, strict=True):
                        results[i] = estimators[i]._to_result(fit)
        return [result for result in results if result is not None]

    @staticmethod
    def _reduce(
        estimators: Sequence[FeatureJointEstimator], counts: Sequence[float]
    ) -> list[Jackknife]:
        """Jackknife of :meth:`_statistics` over M estimators with the same state shape and
        group counts: state stacked ``(M, G, ...)``; the first batch's null pairs (docs/method.md
        §3.7) formed for all M at once when they share their token groups."""
        first = estimators[0]
        sums = [e.sums_ for e in estimators if e.sums_ is not None]
        pairs = [e.pairs_ for e in estimators if e.pairs_ is not None]
        state = (  # (M, G, 3) and (M, G, k, J, k); views for one estimator (no copy)
            [torch.stack(sums), torch.stack(pairs)]
            if len(estimators) > 1
            else [sums[0][None], pairs[0][None]]
        )
        if first.references:
            # every estimator here has accumulated a batch, so each has its first batch's pairs
            pending = [item for item in (e.null_.pending() for e in estimators) if item is not None]
            if len(pending) == len(estimators):
                groups = pending[0][2]
                if all(torch.equal(item[2], groups) for item in pending[1:]):
                    left = torch.stack([item[0] for item in pending])  # (M, T1, k)
                    right = torch.stack([item[1] for item in pending])  # (M, T1, k)
                    state.append(group_outer_stacked(left, right, groups, first.n_groups))
                else:
                    state.append(
                        torch.stack([group_outer(a, b, g, first.n_groups) for a, b, g in pending])
                    )  # (M, G, k, k)
                state[-1] = state[-1].to(state[1].dtype)
        return jackknife_stacked(first._statistics, state, counts)

    def _to_result(self, fit: Jackknife) -> EstimateResult:
        """The :class:`EstimateResult` of this estimator from the jackknife of its statistics."""
        index = {name: i for i, name in enumerate(self._names())}
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
