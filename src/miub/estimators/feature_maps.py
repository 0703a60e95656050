"""Feature maps: from a module's d output features to a fixed alphabet of k features.

The matrix estimators (``js-mi``, ``mi``, ``dpi``, ``linear-cka``) need both branches expressed
over the *same* small alphabet, so their state is k x k rather than d x d (docs/method.md §3.1).
A feature map is built lazily on the first batch (it needs d, and ``topk`` needs the data), then
frozen, so every later batch is mapped identically and results are streaming-consistent.

- ``projection`` (default): ``z = x R`` with ``R ~ N(0, 1/d)``, ``(d, k)``, drawn from a CPU
  ``torch.Generator`` seeded with ``seed`` (so identical on every device and run). The ``1/d``
  variance keeps each projected feature on the scale of one raw feature (its variance is the
  mean squared feature of ``x``), so ``tau`` means the same thing as for the raw features.
- ``topk``: the k features of the base branch with the largest mean ``|o|`` on the first batch.
- ``identity``: the raw d features (k is ignored); only for d <= ``MAX_IDENTITY_DIM`` because the
  matrix state grows as d^2.

k is clamped to d (docs/method.md §3.5): when ``d <= k`` the ``projection`` and ``topk`` maps
are the identity (the raw d features; a projection to more than d dimensions only adds linear
combinations of the same d). :attr:`FeatureMap.out_features` is the alphabet size used.

:func:`to_log_probs` turns mapped logits into per-token log-distributions (``log_softmax``).
"""

from __future__ import annotations

import functools
import math

import torch

FEATURE_MAPS = ("projection", "topk", "identity")
MAX_IDENTITY_DIM = 1024
_VAR_EPS = 1e-30  # tiny: only keeps a constant (e.g. all-zero) vector at 0


@functools.lru_cache(maxsize=64)
def gaussian_projection(d: int, k: int, seed: int, device: torch.device) -> torch.Tensor:
    """``R ~ N(0, 1/d)``, ``(d, k)`` float32, from a CPU generator seeded with ``seed``.

    Cached (the modules of a model share a few widths, and a capture builds one map per
    module and estimator): the same seed gives the same matrix, so sharing it changes nothing.
    Read-only by contract: callers only multiply by it."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    matrix = torch.randn(d, k, generator=generator, dtype=torch.float32)
    return (matrix / math.sqrt(d)).to(device)


class FeatureMap:
    """A frozen linear map ``(T, d) -> (T, k)`` chosen on the first base batch.

    Args:
        kind: ``"projection"``, ``"topk"`` or ``"identity"``.
        k: number of output features (ignored for ``identity``).
        seed: seed of the Gaussian projection (``projection`` only).
    """

    def __init__(self, kind: str, k: int, seed: int) -> None:
        if kind not in FEATURE_MAPS:
            raise ValueError(
                f"unknown feature_map {kind!r}; choose one of {', '.join(FEATURE_MAPS)}"
            )
        if kind != "identity" and k < 2:
            raise ValueError(f"k must be >= 2 (got {k})")
        self.kind = kind
        self.k = k
        self.seed = seed
        self.matrix_: torch.Tensor | None = None  # (d, k) for projection
        self.indices_: torch.Tensor | None = None  # (k,) for topk
        self.dim_: int | None = None

    @property
    def fitted(self) -> bool:
        return self.dim_ is not None

    @property
    def out_features(self) -> int:
        """Number of output features (d for identity, k otherwise); needs a fitted map."""
        if self.dim_ is None:
            raise RuntimeError("feature map not fitted yet")
        return self.dim_ if self.kind == "identity" else min(self.k, self.dim_)

    def fit(self, base: torch.Tensor) -> None:
        """Choose the map from the first base batch ``(T, d)``; no host synchronisation."""
        d = base.shape[-1]
        if self.kind == "identity":
            if d > MAX_IDENTITY_DIM:
                raise ValueError(
                    f"feature_map='identity' keeps d x d state and is allowed only for "
                    f"d <= {MAX_IDENTITY_DIM} (got d={d}); use feature_map='projection' or 'topk' "
                    f"with k features"
                )
        elif self.k >= d:
            self.dim_ = d  # clamp k <= d: the identity map (matrix_ and indices_ stay None)
            return
        if self.kind == "projection":
            self.matrix_ = gaussian_projection(d, self.k, self.seed, base.device)  # (d, k)
        elif self.kind == "topk":
            mean_abs = base.abs().mean(dim=0)  # (d,)
            self.indices_ = torch.topk(mean_abs, self.k).indices.sort().values  # (k,)
        self.dim_ = d

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(T, d)`` to ``(T, k)`` (``(T, d)`` for identity)."""
        if x.shape[-1] != self.dim_:
            raise ValueError(f"feature dimension changed: fitted on d={self.dim_}, got {x.shape}")
        if self.matrix_ is not None:
            return x @ self.matrix_
        if self.indices_ is not None:
            return x.index_select(-1, self.indices_)
        return x

    def map_pair(self, base: torch.Tensor, lora: torch.Tensor | None) -> torch.Tensor:
        """``(T, d), (T, d) -> (2T, k)``: both branches mapped into one buffer (base rows
        first), so the later per-token steps run once on both; ``lora=None`` leaves rows
        ``T:`` uninitialised for the caller (the factored update)."""
        n = base.shape[0]
        if base.shape[-1] != self.dim_ or (lora is not None and lora.shape != base.shape):
            raise ValueError(
                f"feature dimension changed: fitted on d={self.dim_}, got {tuple(base.shape)}"
                + ("" if lora is None else f" and {tuple(lora.shape)}")
            )
        k = self.out_features
        out = torch.empty(2 * n, k, dtype=base.dtype, device=base.device)  # (2T, k)
        for rows, x in ((out[:n], base), (out[n:], lora)):
            if x is None:
                continue
            if self.matrix_ is not None:
                torch.mm(x, self.matrix_, out=rows)  # (T, d) @ (d, k)
            elif self.indices_ is not None:
                torch.index_select(x, -1, self.indices_, out=rows)
            else:
                rows.copy_(x)
        return out

    def describe(self) -> dict[str, object]:
        return {"feature_map": self.kind, "k": self.k, "seed": self.seed}


def to_log_probs(logits: torch.Tensor, tau: float, standardize: bool) -> torch.Tensor:
    """Per-token log-distributions ``log softmax(z_t / tau)`` over the last dimension.

    With ``standardize`` the logits of each token are first z-scored across the features,
    ``z_t <- (z_t - mean(z_t)) / std(z_t)`` (population std; a constant vector maps to 0, i.e.
    the uniform distribution). This removes the overall scale of a branch, so a LoRA branch
    whose output is small but structured is not read as uniform (≈ independent) by scale
    alone; ``tau`` then sets the sharpness in units of standard deviations.

    Args:
        logits: ``(T, k)`` mapped features.
        tau: softmax temperature, > 0.
        standardize: z-score each token's logits before the softmax.

    Returns:
        ``(T, k)`` log-probabilities.
    """
    return torch.log_softmax(_scaled_logits(logits, tau, standardize), dim=-1)


def _scaled_logits(logits: torch.Tensor, tau: float, standardize: bool) -> torch.Tensor:
    """``std(z_t) / tau`` (``z_t / tau`` without ``standardize``), ``(T, k)``.

    The z-score is ``layer_norm`` = ``(z - mean) / sqrt(var + eps)``, one fused kernel, with
    ``1 / tau`` as its elementwise weight (measured: faster than the plain ``layer_norm``
    followed by a division, and one pass over the logits fewer).
    """
    if standardize:
        k = logits.shape[-1]
        weight = None if tau == 1.0 else logits.new_full((k,), 1.0 / tau)
        return torch.nn.functional.layer_norm(logits, (k,), weight=weight, eps=_VAR_EPS)
    return logits / tau if tau != 1.0 else logits


def to_probs_and_entropies(
    logits: torch.Tensor, tau: float, standardize: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(p_t, H(p_t))`` of the distributions of :func:`to_log_probs`, with one ``exp`` per
    element: with ``z_t`` the (z-scored) logits over ``tau`` and ``m_t = max z_t``,

        p_t = exp(z_t - m_t) / s_t,   s_t = sum exp(z_t - m_t),
        H(p_t) = -sum p_t log p_t = m_t + log s_t - sum p_t z_t     (nats).

    Args:
        logits: ``(T, k)`` mapped features (float64 recommended for the entropies).
        tau: softmax temperature, > 0.
        standardize: z-score each token's logits before the softmax.

    Returns:
        ``(T, k)`` probabilities and ``(T,)`` entropies.
    """
    logits = _scaled_logits(logits, tau, standardize)
    peak = logits.amax(dim=-1, keepdim=True)  # (T, 1)
    probs = (logits - peak).exp_()  # (T, k)
    total = probs.sum(dim=-1, keepdim=True)  # (T, 1)
    probs.div_(total)
    entropies = (peak + total.log()).squeeze(-1) - (probs * logits).sum(dim=-1)  # (T,)
    return probs, entropies
