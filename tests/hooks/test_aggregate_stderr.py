"""The standard error of a mean over modules comes from jackknifing that mean itself.

Known answers: identical modules → the module's own SE; perfectly anti-correlated modules →
zero. Simulation with a known truth: the sampling SD of the model-level value over independent
replicate datasets, for modules that share tokens (their errors are correlated) — on a
surrogate where the correlation is strong, and through ``miub.capture`` on a tiny model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import miub
from miub.hooks.result import independent_stderr, jackknife_of_mean, mean_over_modules
from miub.interface import EstimateResult

from .conftest import SequenceGroupedCosine, build_tiny_model


def _estimate(value: float, replicates: list[float]) -> EstimateResult:
    g = len(replicates)
    spread = sum((r - sum(replicates) / g) ** 2 for r in replicates)
    return EstimateResult(
        "x",
        value=value,
        stderr=math.sqrt((g - 1) / g * spread),
        n_tokens=100,
        replicates={"value": replicates},
    )


def test_identical_modules_keep_the_module_stderr():
    replicates = [0.9, 1.1, 1.3, 0.7, 1.0]
    one = _estimate(1.0, replicates)
    mean = mean_over_modules([one, one, one, one])
    assert mean.stderr_method == "jackknife"
    assert mean.stderr == pytest.approx(one.stderr)  # not one.stderr / 2
    assert independent_stderr([one.stderr] * 4) == pytest.approx(one.stderr / 2)


def test_anticorrelated_modules_cancel():
    up = _estimate(1.0, [0.9, 1.1, 1.3, 0.7])
    down = _estimate(1.0, [1.1, 0.9, 0.7, 1.3])
    assert mean_over_modules([up, down]).stderr == pytest.approx(0.0, abs=1e-12)


def test_missing_groups_are_left_out():
    nan = math.nan
    se, theta = jackknife_of_mean([[1.0, 2.0, nan, 4.0], [3.0, 4.0, 5.0, 6.0]])
    assert math.isnan(theta[2])
    kept = np.array([2.0, 3.0, 5.0])  # means of groups 0, 1, 3
    assert se == pytest.approx(math.sqrt(2 / 3 * ((kept - kept.mean()) ** 2).sum()))


def _surrogate_dataset(
    generator: torch.Generator, weights: torch.Tensor, n_sequences: int, length: int
) -> list[EstimateResult]:
    """M modules reading the same tokens ``x_t ~ N(0, I)``: ``o_m = x W_m`` and
    ``l_m = rho_s o_m + sqrt(1 - rho_s^2) * noise``, with ``rho_s ~ U(0.1, 0.9)`` drawn once per
    sequence and shared by every module (their errors are strongly correlated)."""
    n_tokens = n_sequences * length
    x = torch.randn(n_tokens, weights.shape[1], generator=generator)  # (N, d_in)
    rho = torch.rand(n_sequences, generator=generator) * 0.8 + 0.1  # (S,)
    rho_t = rho.repeat_interleave(length)[:, None]  # (N, 1)
    sequence_ids = torch.arange(n_sequences).repeat_interleave(length)  # (N,)
    estimates = []
    for weight in weights:  # (d_in, d)
        base = x @ weight  # (N, d)
        noise = torch.randn(base.shape, generator=generator) * base.norm(dim=1, keepdim=True)
        lora = rho_t * base + (1 - rho_t**2).sqrt() * noise / math.sqrt(base.shape[1])
        estimator = SequenceGroupedCosine()
        for start in range(0, n_tokens, 5 * length):  # batches of 5 sequences
            rows = slice(start, start + 5 * length)
            estimator.update(base[rows], lora[rows], sequence_ids[rows])
        estimates.append(estimator.result())
    return estimates


def test_model_level_stderr_matches_sampling_sd_on_a_shared_token_surrogate():
    generator = torch.Generator().manual_seed(0)
    n_modules, d_in, d = 12, 8, 16
    weights = torch.randn(n_modules, d_in, d, generator=generator)
    values, jackknifed, independent = [], [], []
    for _ in range(200):  # independent replicate datasets
        estimates = _surrogate_dataset(generator, weights, n_sequences=48, length=8)
        mean = mean_over_modules(estimates)
        values.append(mean.value)
        jackknifed.append(mean.stderr)
        independent.append(independent_stderr([e.stderr for e in estimates]))
    true_sd = float(np.std(values, ddof=1))
    assert 0.7 <= float(np.mean(jackknifed)) / true_sd <= 1.4
    # the independence formula sqrt(sum se_m^2) / M is far too small here (~ 1 / sqrt(M))
    assert float(np.mean(independent)) / true_sd < 0.5


def test_model_level_stderr_matches_sampling_sd_through_capture():
    """Tiny Llama, 14 LoRA modules; each dataset is 48 sequences of 16 tokens, each sequence
    drawn from its own 3-token vocabulary (tokens within a sequence are correlated)."""
    model = build_tiny_model("llama")
    generator = torch.Generator().manual_seed(0)
    values, stderrs = [], []
    for _ in range(40):
        topics = torch.stack([torch.randperm(94, generator=generator)[:3] + 3 for _ in range(48)])
        input_ids = topics.gather(1, torch.randint(0, 3, (48, 16), generator=generator))
        with torch.no_grad(), miub.capture(model, estimators=[SequenceGroupedCosine]) as cap:
            for start in range(0, 48, 8):
                model(input_ids=input_ids[start : start + 8])
        overall = cap.result().overall["seq-cosine"]
        assert overall.stderr_method == "jackknife"
        values.append(overall.value)
        stderrs.append(overall.stderr)
    ratio = float(np.mean(stderrs)) / float(np.std(values, ddof=1))
    assert 0.7 <= ratio <= 1.4
