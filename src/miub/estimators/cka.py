"""``linear-cka`` between the base and LoRA outputs over tokens (METHOD.md §3.4).

Linear centred kernel alignment (Kornblith et al., "Similarity of Neural Network
Representations Revisited", ICML 2019, eq. 4, in its feature-space form): with ``X = O R`` and
``Y = L R`` the ``(T, k)`` mapped outputs (the same feature map as ``js-mi``; ``identity`` gives
CKA on the raw d features) and ``C_XY`` the ``(k, k)`` cross-covariance over tokens,

    CKA = ||C_XY||_F^2 / (||C_XX||_F ||C_YY||_F)        unitless, in [0, 1].

With the default Gaussian projection this is CKA of a random sketch of the outputs (exact in
expectation only for the numerator and denominator separately); the d x d state of exact CKA
would cost more than the module it measures. State: G group sums of ``x``, ``y`` (G, k) and of
``x x^T``, ``y y^T``, ``x y^T`` (G, k, k), in float64, after subtracting the first batch's mean
(a fixed shift, so the moments do not lose precision to a large mean). Standard error: the
delete-a-group jackknife over G interleaved token groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from miub.estimators.feature_maps import FeatureMap
from miub.estimators.grouping import (
    N_GROUPS,
    accumulation_dtype,
    group_counts,
    group_rows,
    jackknife,
)
from miub.interface import EstimateResult


class LinearCKA:
    """Streaming linear CKA of the mapped base and LoRA outputs (unitless).

    Args:
        k: number of mapped features (ignored by ``feature_map="identity"``).
        feature_map: ``"projection"`` (seeded Gaussian d -> k), ``"topk"`` or ``"identity"``.
        seed: seed of the projection.
        n_groups: interleaved token groups for the jackknife standard error.
    """

    name = "linear-cka"

    def __init__(
        self, k: int = 64, feature_map: str = "projection", seed: int = 0, n_groups: int = N_GROUPS
    ) -> None:
        if n_groups < 2:
            raise ValueError(f"n_groups must be >= 2 (got {n_groups})")
        self.n_groups = n_groups
        self.feature_map_ = FeatureMap(feature_map, k, seed)
        self.shift_: torch.Tensor | None = None  # (2, k): first-batch means of x and y
        self.sums_: torch.Tensor | None = None  # (G, 2k): sum x, sum y
        self.moments_: torch.Tensor | None = None  # (G, 3, k, k): sum xx^T, yy^T, xy^T
        self.counts_ = [0] * n_groups
        self.n_tokens_ = 0

    def update(self, base: torch.Tensor, lora: torch.Tensor) -> None:
        """Add one batch of real tokens: ``base``, ``lora`` float32 ``(T, d)``. No host sync."""
        n = base.shape[0]
        if n == 0:
            return
        if not self.feature_map_.fitted:
            self.feature_map_.fit(base)
        x, y = self.feature_map_(base), self.feature_map_(lora)  # (T, k) each
        if self.shift_ is None:
            self.shift_ = torch.stack([x.mean(dim=0), y.mean(dim=0)])  # (2, k)
        rows = torch.cat([x - self.shift_[0], y - self.shift_[1]], dim=1)  # (T, 2k)
        k = x.shape[1]
        grouped = group_rows(rows, self.n_tokens_, self.n_groups).transpose(0, 1)  # (G, n, 2k)
        gram = torch.bmm(grouped.transpose(1, 2), grouped)  # (G, 2k, 2k)
        moments = torch.stack(
            [gram[:, :k, :k], gram[:, k:, k:], gram[:, :k, k:]], dim=1
        )  # (G, 3, k, k)
        if self.sums_ is None or self.moments_ is None:
            dtype = accumulation_dtype(base.device)
            self.sums_ = torch.zeros(self.n_groups, 2 * k, dtype=dtype, device=base.device)
            self.moments_ = torch.zeros(self.n_groups, 3, k, k, dtype=dtype, device=base.device)
        self.sums_ += grouped.sum(dim=1)
        self.moments_ += moments
        added = group_counts(self.n_tokens_, n, self.n_groups)
        self.counts_ = [c + a for c, a in zip(self.counts_, added, strict=True)]
        self.n_tokens_ += n

    @staticmethod
    def _statistic(totals: Sequence[torch.Tensor], n_tokens: int) -> torch.Tensor:
        """``(1,)``: CKA from summed (shifted) first and second moments."""
        sums, moments = totals
        k = moments.shape[-1]
        mean_x, mean_y = sums[:k] / n_tokens, sums[k:] / n_tokens  # (k,), (k,)
        cov_xx = moments[0] / n_tokens - torch.outer(mean_x, mean_x)  # (k, k)
        cov_yy = moments[1] / n_tokens - torch.outer(mean_y, mean_y)  # (k, k)
        cov_xy = moments[2] / n_tokens - torch.outer(mean_x, mean_y)  # (k, k)
        denominator = torch.linalg.matrix_norm(cov_xx) * torch.linalg.matrix_norm(cov_yy)
        cka = (cov_xy * cov_xy).sum() / denominator
        return torch.where(denominator > 0, cka, torch.zeros_like(cka)).reshape(1)

    def params(self) -> dict[str, Any]:
        fmap = self.feature_map_
        k = fmap.out_features if fmap.fitted else fmap.k
        return {"k": k, "feature_map": fmap.kind, "seed": fmap.seed, "n_groups": self.n_groups}

    def result(self) -> EstimateResult:
        if self.sums_ is None or self.moments_ is None:
            nan = float("nan")
            return EstimateResult(self.name, nan, nan, 0, self.params(), {}, "unitless")
        values, stderrs = jackknife(self._statistic, [self.sums_, self.moments_], self.counts_)
        return EstimateResult(
            self.name, values[0], stderrs[0], self.n_tokens_, self.params(), {}, "unitless"
        )
