"""``linear-cka`` between the base and LoRA outputs over tokens (docs/method.md §3.4).

Linear centred kernel alignment (Kornblith et al., "Similarity of Neural Network
Representations Revisited", ICML 2019, eq. 4, in its feature-space form): with ``X = O R`` and
``Y = L R`` the ``(T, k)`` mapped outputs (the same feature map as ``js-mi``, k clamped to d;
``identity`` gives CKA on the raw d features) and ``C_XY`` the ``(k, k)`` cross-covariance over
tokens,

    CKA = ||C_XY||_F^2 / (||C_XX||_F ||C_YY||_F)        unitless, in [0, 1].

It is a (linear) dependence measure: it passes the pairing test (docs/method.md §3.8), so it
reports the reference points of docs/method.md §3.7 -- ``null`` (cross-moment of X with the
rows of Y of other tokens, :class:`.references.PairingNull`), ``ceiling`` (= 1: CKA of X with itself), ``corrected``
and ``normalized``. It has no orientation under the paper's reading.

With the default Gaussian projection this is CKA of a random sketch of the outputs (exact in
expectation only for the numerator and denominator separately); the d x d state of exact CKA
would cost more than the module it measures. State: G group sums of ``x``, ``y`` (G, 2k) and of
``x x^T``, ``y y^T``, ``x y^T``, ``x y_pi^T`` (G, 4, k, k), in float64, after subtracting the
first batch's mean (a fixed shift, so the moments do not lose precision to a large mean).
Standard error: the delete-a-group jackknife over G sequence groups (:mod:`.grouping`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from miub.estimators.feature_maps import FeatureMap
from miub.estimators.grouping import (
    N_GROUPS,
    accumulation_dtype,
    group_outer,
    group_sum,
    jackknife_batched,
    token_groups,
)
from miub.estimators.references import DEFAULT_K, PairingNull, normalized, reference_extras
from miub.interface import EstimateResult

_NAMES = ("cka", "cka_null", "cka_ceiling", "cka_normalized")


class LinearCKA:
    """Streaming linear CKA of the mapped base and LoRA outputs (unitless).

    Args:
        k: number of mapped features (clamped to d; ignored by ``feature_map="identity"``).
        feature_map: ``"projection"`` (seeded Gaussian d -> k), ``"topk"`` or ``"identity"``.
        seed: seed of the projection and of the null's pairing permutation.
        n_groups: sequence groups G for the jackknife.
    """

    name = "linear-cka"

    def __init__(
        self,
        k: int = DEFAULT_K,
        feature_map: str = "projection",
        seed: int = 0,
        n_groups: int = N_GROUPS,
    ) -> None:
        if n_groups < 2:
            raise ValueError(f"n_groups must be >= 2 (got {n_groups})")
        self.n_groups = n_groups
        self.seed = seed
        self.feature_map_ = FeatureMap(feature_map, k, seed)
        self.shift_: torch.Tensor | None = None  # (2, k): first-batch means of x and y
        self.sums_: torch.Tensor | None = None  # (G, 2k + 1): sum x, sum y, count
        self.moments_: torch.Tensor | None = None  # (G, 4, k, k): xx^T, yy^T, xy^T, xy_pi^T
        self.null_ = PairingNull(seed)
        self.n_tokens_ = 0

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``, ``sequence_ids``
        ``(T,)`` int64 or None. No host sync."""
        n = base.shape[0]
        if n == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        device = base.device
        dtype = accumulation_dtype(device)
        x, y = self.feature_map_(base).to(dtype), self.feature_map_(lora).to(dtype)  # (T, k)
        if self.shift_ is None:
            self.shift_ = torch.stack([x.mean(dim=0), y.mean(dim=0)])  # (2, k)
        x, y = x - self.shift_[0], y - self.shift_[1]
        k = x.shape[1]
        groups = token_groups(n, self.n_tokens_, sequence_ids, self.n_groups, device)  # (T,)
        partners = self.null_.pair(x, y, groups)  # (T, k) LoRA rows of other tokens
        ones = torch.ones(n, 1, dtype=dtype, device=device)
        if self.sums_ is None or self.moments_ is None:
            self.sums_ = torch.zeros(self.n_groups, 2 * k + 1, dtype=dtype, device=device)
            self.moments_ = torch.zeros(self.n_groups, 4, k, k, dtype=dtype, device=device)
        group_sum(torch.cat([x, y, ones], dim=1), groups, self.n_groups, out=self.sums_)
        group_outer(y, y, groups, self.n_groups, out=self.moments_[:, 1])
        # x x^T, then (moments_ slots 2, 3) x y^T and x y_pi^T: one (G, k, J'k) call
        right = [x, y] if partners is None else [x, y, partners]
        products = group_outer(x, torch.cat(right, dim=1), groups, self.n_groups)
        products = products.view(self.n_groups, k, len(right), k).transpose(1, 2)
        self.moments_[:, 0] += products[:, 0]
        self.moments_[:, 2 : 1 + len(right)] += products[:, 1:]
        self.n_tokens_ += n

    @staticmethod
    def _statistic(totals: Sequence[torch.Tensor], n_tokens: torch.Tensor) -> torch.Tensor:
        """``(N, 4)``: CKA, its null, ceiling and normalized value from stacked summed shifted
        moments, ``sums`` ``(N, 2k + 1)``, ``moments`` ``(N, 4, k, k)``, optionally the first
        batch's null cross-moments ``(N, k, k)``, and counts ``(N,)``."""
        sums, moments, *pending = totals
        k = moments.shape[-1]
        if pending:  # (N, k, k) the first batch's null pairs (stacks are fresh: add in place)
            moments[:, 3] += pending[0]
        n = n_tokens[:, None]  # (N, 1)
        mean_x, mean_y = sums[:, :k] / n, sums[:, k : 2 * k] / n  # (N, k), (N, k)
        second = moments / n[:, :, None, None]  # (N, 4, k, k)
        outer_xy = mean_x[:, :, None] * mean_y[:, None, :]  # (N, k, k)
        cov_xx = second[:, 0] - mean_x[:, :, None] * mean_x[:, None, :]  # (N, k, k)
        cov_yy = second[:, 1] - mean_y[:, :, None] * mean_y[:, None, :]  # (N, k, k)
        norm_xx = torch.linalg.matrix_norm(cov_xx)  # (N,)

        def cka(cov_xy: torch.Tensor, norm_yy: torch.Tensor) -> torch.Tensor:
            denominator = norm_xx * norm_yy
            value = (cov_xy * cov_xy).sum(dim=(-2, -1)) / denominator
            return torch.where(denominator > 0, value, torch.zeros_like(value))

        norm_yy = torch.linalg.matrix_norm(cov_yy)
        value = cka(second[:, 2] - outer_xy, norm_yy)
        null = cka(second[:, 3] - outer_xy, norm_yy)
        ceiling = cka(cov_xx, norm_xx)
        return torch.stack([value, null, ceiling, normalized(value, null, ceiling)], dim=1)

    def params(self) -> dict[str, Any]:
        fmap = self.feature_map_
        k = fmap.out_features if fmap.fitted else fmap.k
        return {"k": k, "feature_map": fmap.kind, "seed": fmap.seed, "n_groups": self.n_groups}

    def result(self) -> EstimateResult:
        if self.sums_ is None or self.moments_ is None:
            nan = float("nan")
            return EstimateResult(self.name, nan, nan, 0, self.params(), {}, "unitless")
        state = [self.sums_, self.moments_]
        pending = self.null_.pending()
        if pending is not None:  # the first batch's null pairs, with the latest batch
            first_x, partners, groups = pending
            state.append(group_outer(first_x, partners, groups, self.n_groups))  # (G, k, k)
        fit = jackknife_batched(self._statistic, state, self.sums_[:, -1])
        index = {name: i for i, name in enumerate(_NAMES)}
        return EstimateResult(
            self.name,
            fit.values[0],
            fit.stderrs[0],
            self.n_tokens_,
            self.params(),
            reference_extras(fit, index, "cka"),
            "unitless",
            replicates={"value": fit.replicates[0], "normalized": fit.replicates[3]},
        )
