"""Reference points of a dependence estimate and the calibrated defaults (docs/method.md §3.7).

A plug-in dependence value ``v`` alone has no scale: its independence value is not 0 (plug-in
bias ~1/T) and its largest reachable value depends on the base branch (the *ceiling*). Every
dependence estimator therefore reports, from the same pass,

    null       = v on the same tokens with the LoRA rows re-paired across tokens (pairing broken,
                 both marginals kept up to the cycling of :class:`PairingNull`): each batch's
                 base rows are paired with the shuffled LoRA rows of the previous batch;
    ceiling    = v with the LoRA branch replaced by the base branch;
    corrected  = G' v - (G' - 1) mean_g v_(g)     (jackknife bias correction);
    normalized = (v - null) / (ceiling - null)    (0 at independence, 1 at the ceiling),

with ``normalized_stderr`` and its replicates from the same jackknife. ``null`` depends on how
the tokens are batched (which rows are re-paired) by its own sampling noise, which is of the
order of the plug-in bias; value, ceiling and corrected do not.
"""

from __future__ import annotations

import torch

from miub.estimators.grouping import Jackknife

DEFAULT_TAU = 0.5
"""Softmax temperature of the matrix estimators, chosen by benchmarks/estimator_calibration.py."""

DEFAULT_K = 64
"""Feature alphabet size of the matrix estimators (clamped to d), same calibration."""

REFERENCE_KEYS = ("null", "ceiling", "corrected", "normalized")
"""The ``extras`` keys of every dependence estimate (plus ``normalized_stderr``)."""

_STEP_STRIDE = 1_000_003  # a prime: distinct (seed, batch) pairs give distinct generator seeds


def normalized(value: torch.Tensor, null: torch.Tensor, ceiling: torch.Tensor) -> torch.Tensor:
    """``(value - null) / (ceiling - null)``; NaN when the ceiling does not exceed the null."""
    span = ceiling - null
    return torch.where(span > 0, (value - null) / span, torch.full_like(span, float("nan")))


def pairing_permutation(n_tokens: int, seed: int, step: int, device: torch.device) -> torch.Tensor:
    """``(T,)`` seeded random permutation for batch number ``step``; drawn on the CPU (so the
    same on every device) and copied to ``device`` without a host synchronisation."""
    generator = torch.Generator(device="cpu").manual_seed(seed * _STEP_STRIDE + step)
    return torch.randperm(n_tokens, generator=generator).to(device)


class PairingNull:
    """Chooses, for each batch, the LoRA rows its base rows are paired with in the null.

    Batch ``b >= 1`` is paired with the (seeded, shuffled) LoRA rows of batch ``b - 1``, cycled
    to length ``T_b``: the partners come from other sequences whenever a sequence does not span
    batches, also with one sequence per batch (a within-batch permutation would keep the
    dependence of the tokens of one sequence). The first batch is paired with the last batch
    at :meth:`pending` (with a permutation of itself if it is the only batch). Memory: the base
    rows of the first batch and the LoRA rows of the latest one, ``O(batch · k)``.

    Args:
        seed: seed of the shuffles.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.first_: tuple[torch.Tensor, torch.Tensor] | None = None  # base rows, groups
        self.previous_: torch.Tensor | None = None  # (T_prev, m) LoRA rows of the last batch
        self.n_batches_ = 0

    def _partners(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """``n`` rows drawn from ``rows`` (T', m): a seeded shuffle, cycled to length ``n``."""
        order = pairing_permutation(rows.shape[0], self.seed, self.n_batches_, rows.device)
        index = order.repeat((n + rows.shape[0] - 1) // rows.shape[0])[:n]  # (n,)
        return rows.index_select(0, index)

    def pair(
        self, base_rows: torch.Tensor, lora_rows: torch.Tensor, groups: torch.Tensor
    ) -> torch.Tensor | None:
        """The ``(T, m)`` LoRA rows to pair with ``base_rows`` now (None for the first batch,
        which waits for :meth:`pending`); then remembers ``lora_rows``."""
        partners = None
        if self.first_ is None:
            self.first_ = (base_rows, groups)
        else:
            assert self.previous_ is not None
            partners = self._partners(self.previous_, base_rows.shape[0])
        self.previous_ = lora_rows
        self.n_batches_ += 1
        return partners

    def pending(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(base_rows, lora_partners, groups)`` of the first batch, or None before any."""
        if self.first_ is None or self.previous_ is None:
            return None
        base_rows, groups = self.first_
        return base_rows, self._partners(self.previous_, base_rows.shape[0]), groups


def reference_extras(fit: Jackknife, index: dict[str, int], statistic: str) -> dict[str, float]:
    """``null``, ``ceiling``, ``corrected``, ``normalized``, ``normalized_stderr`` of
    ``statistic`` from a :class:`~miub.estimators.grouping.Jackknife` ``fit`` whose rows are
    named by ``index`` (``<statistic>``, ``<statistic>_null``, ``_ceiling``, ``_normalized``)."""
    values, stderrs, corrected = fit.values, fit.stderrs, fit.corrected
    return {
        "null": values[index[f"{statistic}_null"]],
        "ceiling": values[index[f"{statistic}_ceiling"]],
        "corrected": corrected[index[statistic]],
        "normalized": values[index[f"{statistic}_normalized"]],
        "normalized_stderr": stderrs[index[f"{statistic}_normalized"]],
    }
