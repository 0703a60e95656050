"""The pairing test decides the registry's kinds (docs/method.md §3.8), and the in-pass
reference points (§3.7) agree with the quantities they stand for.

Data with a known dependence: (1) the linear-Gaussian surrogate of a LoRA layer, o = W0 x + c,
l = B A x + noise, and l' = the same map of an independent x' (independent tokens); (2) a tiny
Llama whose LoRA adapter was trained a few steps on a structured (periodic) token task, with the
branches of one module captured by ``miub.capture`` on two disjoint eval sets.

Given branch outputs ``(o, l)`` with real dependence, a dependence measure must
(a) see the pairing: ``v(o, l) - v(o, l_pi) > 5 SE`` with ``l_pi`` the LoRA rows permuted
    across all tokens (both marginals kept exactly);
(b) move to its independence value: ``v(o, l_pi)`` within 4 combined SE of ``v(o, l')``, with
    ``l'`` the LoRA rows of an independent draw (other tokens);
(c) not be explained by one branch alone: with the LoRA branch replaced by zeros (a branch that
    carries nothing) it reads no more dependence than at independence (``|v| <= |v(o, l')|`` +
    4 combined SE; a plug-in reads 0 there, below its biased independence value), and
    rescaling the base branch alone (x0.3, x3) leaves ``v(o, l_pi)`` within 4 combined SE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

import miub
from miub.estimators import estimate, get_spec, list_estimators
from miub.interface import EstimateResult

NAMES = [spec.name for spec in list_estimators()]


@dataclass(frozen=True)
class PairingVerdict:
    sees_pairing: bool
    permuted_is_independent: bool
    not_one_branch: bool
    paired: float
    permuted: float
    independent: float

    @property
    def dependence(self) -> bool:
        return self.sees_pairing and self.permuted_is_independent and self.not_one_branch


def _run(name: str, base: torch.Tensor, lora: torch.Tensor) -> tuple[float, float]:
    params: dict[str, Any] = {"k": 16} if "k" in get_spec(name).defaults else {}
    result = estimate(name, base, lora, **params)
    return result.value, result.stderr


def pairing_verdict(
    name: str, base: torch.Tensor, lora: torch.Tensor, other_lora: torch.Tensor, seed: int = 0
) -> PairingVerdict:
    """``base``, ``lora`` (T, d) paired rows; ``other_lora`` (T, d) LoRA rows of other tokens."""
    order = torch.randperm(base.shape[0], generator=torch.Generator().manual_seed(seed))
    value, se = _run(name, base, lora)
    permuted, se_perm = _run(name, base, lora[order])
    independent, se_ind = _run(name, base, other_lora)
    zero, se_zero = _run(name, base, torch.zeros_like(lora))
    rescaled = [_run(name, scale * base, lora[order]) for scale in (0.3, 3.0)]
    close = lambda a, sa, b, sb: abs(a - b) <= 4 * math.hypot(sa, sb) + 1e-9  # noqa: E731
    return PairingVerdict(
        sees_pairing=value - permuted > 5 * se or permuted - value > 5 * se,
        permuted_is_independent=close(permuted, se_perm, independent, se_ind),
        not_one_branch=abs(zero) <= abs(independent) + 4 * math.hypot(se_zero, se_ind) + 1e-9
        and all(close(v, s, permuted, se_perm) for v, s in rescaled),
        paired=value,
        permuted=permuted,
        independent=independent,
    )


def _surrogate(n_tokens: int = 4000, d: int = 32, rank: int = 4, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    w0 = torch.randn(d, d, generator=generator) / math.sqrt(d)
    a = torch.randn(rank, d, generator=generator) / math.sqrt(d)
    b = torch.randn(d, rank, generator=generator)
    x, x_other = (torch.randn(n_tokens, d, generator=generator) for _ in range(2))

    def lora_of(inputs: torch.Tensor) -> torch.Tensor:
        return inputs @ a.T @ b.T + 0.3 * torch.randn(n_tokens, d, generator=generator)

    return x @ w0.T + 0.5, lora_of(x), lora_of(x_other)  # (T, d) each


@dataclass
class _Recorder:
    """A capture sink: keeps the (base, lora) rows of one module (a real estimator's input)."""

    name: str = "recorder"
    rows: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        self.rows.append((base.clone(), lora.clone()))

    def result(self) -> EstimateResult:
        return EstimateResult(self.name, math.nan, math.nan, sum(len(b) for b, _ in self.rows))


def _periodic_tokens(n_sequences: int, length: int, seed: int) -> torch.Tensor:
    """Sequences ``start, start + step, ...`` mod 40 (+ 3): next tokens are predictable."""
    generator = torch.Generator().manual_seed(seed)
    start = torch.randint(0, 40, (n_sequences, 1), generator=generator)
    step = torch.randint(1, 4, (n_sequences, 1), generator=generator)
    return (start + step * torch.arange(length)) % 40 + 3  # (B, L)


def _capture_rows(
    model: torch.nn.Module, tokens: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """module name -> (base, lora) rows captured by ``miub.capture`` on ``tokens`` (B, L)."""
    recorders: list[_Recorder] = []

    def factory() -> _Recorder:
        recorders.append(_Recorder())
        return recorders[-1]

    with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap:
        for batch in tokens.split(16):
            model(input_ids=batch)
        names = list(cap.result().modules)
    return {
        name: (torch.cat([b for b, _ in r.rows]), torch.cat([lo for _, lo in r.rows]))
        for name, r in zip(names, recorders, strict=True)
    }


@pytest.fixture(scope="module")
def trained_branches() -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """module -> (base, lora, lora on other tokens), (T, d) each, of a trained tiny Llama."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=48, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    targets = ["q_proj", "v_proj", "o_proj", "down_proj"]
    model = get_peft_model(
        LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules=targets)
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    model.train()
    for step in range(30):
        batch = _periodic_tokens(16, 24, seed=step)
        loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    recorded = [_capture_rows(model, _periodic_tokens(96, 32, seed)) for seed in (1000, 2000)]
    first, second = recorded
    # the other set's rows shuffled, so that no position is shared with the paired row
    order = torch.randperm(96 * 32, generator=torch.Generator().manual_seed(3))
    return {name: (*first[name], second[name][1][order]) for name in first}


@pytest.mark.parametrize("name", NAMES)
def test_kind_is_what_the_pairing_test_says(
    name: str, trained_branches: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
) -> None:
    """A dependence measure passes on the surrogate and on every module of the trained model;
    a baseline fails somewhere (``dpi``, ``token-jsd``, ``miub-token``, ``norm-ratio`` fail on
    the surrogate already; ``cosine`` passes there but not on the trained model)."""
    verdicts = {"surrogate": pairing_verdict(name, *_surrogate())}
    for module, branches in trained_branches.items():
        verdicts[module] = pairing_verdict(name, *branches)
    passes = all(verdict.dependence for verdict in verdicts.values())
    failed = {where: v for where, v in verdicts.items() if not v.dependence}
    assert passes == (get_spec(name).kind == "dependence"), failed


@pytest.mark.parametrize("name", [s.name for s in list_estimators() if s.kind == "dependence"])
def test_reference_points_match_what_they_stand_for(name: str) -> None:
    base, lora, _ = _surrogate(n_tokens=3000, seed=1)
    params: dict[str, Any] = {"k": 16} if "k" in get_spec(name).defaults else {}
    order = torch.randperm(3000, generator=torch.Generator().manual_seed(5))
    result = estimate(name, base, lora, **params)
    permuted = estimate(name, base, lora[order], **params)
    ceiling = estimate(name, base, base.clone(), **params)
    extras = result.extras
    assert set(extras) >= {"null", "ceiling", "corrected", "normalized", "normalized_stderr"}
    assert abs(extras["null"] - permuted.value) < 4 * permuted.stderr + 1e-9
    assert extras["ceiling"] == pytest.approx(ceiling.value, rel=1e-6)
    expected = (result.value - extras["null"]) / (extras["ceiling"] - extras["null"])
    assert extras["normalized"] == pytest.approx(expected, rel=1e-9)
    replicates = result.replicates["value"]
    g = len(replicates)
    assert extras["corrected"] == pytest.approx(g * result.value - (g - 1) * sum(replicates) / g)
    assert len(result.replicates["normalized"]) == g
    # the LoRA branch set to the base branch reads 1; permuted rows read ~0
    assert ceiling.extras["normalized"] == pytest.approx(1.0, abs=1e-6)
    assert abs(permuted.extras["normalized"]) < 5 * permuted.extras["normalized_stderr"]


@pytest.mark.parametrize("name", [s.name for s in list_estimators() if s.kind == "baseline"])
def test_baselines_carry_no_reference_points(name: str) -> None:
    base, lora, _ = _surrogate(n_tokens=500)
    assert "normalized" not in estimate(name, base, lora).extras
