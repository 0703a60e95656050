"""Linear-Gaussian surrogate of a LoRA layer (docs/method.md §3.8): x ~ N(0, I), o = W0 x,
l = s * B A x' + sigma * eps, with x' = cos(theta) x + sin(theta) xi (xi independent of x).

Directions, derived from the Gaussian mutual information of the two branches,
I(o; l) = sum_i 1/2 log(1 + s_i^2 / sigma^2) over the r singular values s_i of B A restricted to
the part of x' that is x (W0 is invertible, so o carries all of x):
- noise sigma up           -> I(o; l) down          -> js-mi and mi down;
- decoupling theta 0->pi/2 -> the cos(theta) part of the signal shrinks to 0 -> js-mi, mi -> 0;
- rank r up (each direction of unit strength) -> more terms in the sum -> js-mi, mi up.
js-mi and mi see these through the fixed random projection and the per-token softmax, so they
are monotone transforms only in tendency; the cases below are chosen well apart (their gaps are
many standard errors wide). A global scale s of the LoRA branch changes nothing with the
default per-token standardisation (it only rescales the signal and the noise together).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from miub.estimators import estimate

D_IN, D_OUT, N_TOKENS = 64, 64, 6000


def _branches(
    rank: int = 8, sigma: float = 0.3, theta: float = 0.0, scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(N_TOKENS, D_IN, generator=generator)  # (T, d_in)
    w0 = torch.randn(D_OUT, D_IN, generator=generator) / math.sqrt(D_IN)
    lora_gen = torch.Generator().manual_seed(1)
    a = torch.randn(rank, D_IN, generator=lora_gen) / math.sqrt(D_IN)  # (r, d_in)
    b = torch.randn(D_OUT, rank, generator=lora_gen) / math.sqrt(rank)  # (d_out, r)
    xi = torch.randn(N_TOKENS, D_IN, generator=lora_gen)
    x_lora = math.cos(theta) * x + math.sin(theta) * xi
    noise = torch.randn(N_TOKENS, D_OUT, generator=lora_gen)
    base = x @ w0.T  # (T, d_out)
    lora = scale * (x_lora @ a.T @ b.T + sigma * noise)  # (T, d_out)
    return base, lora


def _values(base: torch.Tensor, lora: torch.Tensor) -> tuple[float, float, float]:
    result = estimate("js-mi", base, lora)
    return result.value, result.extras["mi"], result.stderr


def _assert_strictly_increasing(values: list[tuple[float, float, float]]) -> None:
    for (js_low, mi_low, se_low), (js_high, mi_high, se_high) in itertools.pairwise(values):
        assert js_high - js_low > 3 * math.hypot(se_low, se_high)
        assert mi_high > mi_low


def test_more_noise_lowers_js_mi() -> None:
    _assert_strictly_increasing([_values(*_branches(sigma=s)) for s in (3.0, 1.0, 0.3)])


def test_decoupling_the_lora_input_lowers_js_mi_to_zero() -> None:
    values = [_values(*_branches(theta=t)) for t in (math.pi / 2, 1.0, 0.5, 0.0)]
    _assert_strictly_increasing(values)
    # decoupled: at the independence reference (plug-in bias only), normalised value ~ 0
    decoupled = estimate("js-mi", *_branches(theta=math.pi / 2))
    assert abs(decoupled.value - decoupled.extras["null"]) < 4 * decoupled.stderr
    assert abs(decoupled.extras["normalized"]) < 0.05


def test_higher_rank_raises_js_mi() -> None:
    _assert_strictly_increasing([_values(*_branches(rank=r, sigma=0.5)) for r in (1, 2, 4)])


@pytest.mark.parametrize("scale", [1e-3, 1e2])
def test_global_lora_scale_does_not_matter(scale: float) -> None:
    reference = _values(*_branches())[0]
    assert _values(*_branches(scale=scale))[0] == pytest.approx(reference, rel=1e-3)
