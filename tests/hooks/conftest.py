"""Tiny random LoRA models (Llama, Phi-3, GPT-2, DoRA) and a recording estimator for capture tests.

No downloads: every model is built from a small config. LoRA B matrices are random
(``init_lora_weights=False``) so the LoRA branch is non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    Phi3Config,
    Phi3ForCausalLM,
)

from miub.interface import EstimateResult

VOCAB = 97

LLAMA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
PHI3_TARGETS = ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
GPT2_TARGETS = ["c_attn", "c_proj", "c_fc"]


def build_tiny_model(kind: str) -> nn.Module:
    """A random 2-layer causal LM with LoRA (rank 4) on attention + FFN, float32, eval mode.

    ``kind``: ``"llama"``, ``"phi3"``, ``"gpt2"`` or ``"llama-dora"``.
    """
    if kind in {"llama", "llama-dora"}:
        base: nn.Module = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=VOCAB,
                hidden_size=32,
                intermediate_size=48,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                max_position_embeddings=64,
                pad_token_id=0,
            )
        )
        lora = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=LLAMA_TARGETS,
            init_lora_weights=False,
            use_dora=kind == "llama-dora",
        )
    elif kind == "phi3":
        base = Phi3ForCausalLM(
            Phi3Config(
                vocab_size=VOCAB,
                hidden_size=32,
                intermediate_size=48,
                num_hidden_layers=2,
                num_attention_heads=4,
                num_key_value_heads=2,
                max_position_embeddings=64,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
            )
        )
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=PHI3_TARGETS, init_lora_weights=False)
    elif kind == "gpt2":
        base = GPT2LMHeadModel(
            GPT2Config(
                vocab_size=VOCAB,
                n_embd=32,
                n_layer=2,
                n_head=4,
                n_positions=64,
                bos_token_id=1,
                eos_token_id=2,
            )
        )
        lora = LoraConfig(
            r=4,
            lora_alpha=8,
            target_modules=GPT2_TARGETS,
            fan_in_fan_out=True,
            init_lora_weights=False,
        )
    else:
        raise ValueError(kind)
    model = get_peft_model(base, lora)
    model.eval()
    return model


def padded_batch(lengths: list[int], seq_len: int = 12, seed: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded random token batch: ``input_ids`` (B, T) and ``attention_mask`` (B, T)."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(3, VOCAB, (len(lengths), seq_len), generator=generator)
    attention_mask = torch.zeros(len(lengths), seq_len, dtype=torch.long)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
    input_ids = input_ids.masked_fill(attention_mask == 0, 0)
    return {"input_ids": input_ids, "attention_mask": attention_mask}


@dataclass
class RecordingEstimator:
    """Keeps every (base, lora, sequence_ids) it is given; value = mean ‖l‖/‖o‖ over tokens (a
    real, if memory-hungry, estimator used to check what capture hands over)."""

    name: str = "recorder"
    bases: list[torch.Tensor] = field(default_factory=list)
    loras: list[torch.Tensor] = field(default_factory=list)
    ids: list[torch.Tensor] = field(default_factory=list)

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        assert base.dtype == torch.float32 and lora.dtype == torch.float32
        assert base.dim() == 2 and base.shape == lora.shape
        assert not base.requires_grad and not lora.requires_grad
        assert sequence_ids is not None and sequence_ids.dtype == torch.int64
        assert sequence_ids.shape == (base.shape[0],)
        self.bases.append(base.clone())
        self.loras.append(lora.clone())
        self.ids.append(sequence_ids.clone())

    @property
    def sequence_ids(self) -> torch.Tensor:
        return torch.cat(self.ids)  # (T,)

    @property
    def base(self) -> torch.Tensor:
        return torch.cat(self.bases)  # (T, d)

    @property
    def lora(self) -> torch.Tensor:
        return torch.cat(self.loras)  # (T, d)

    def result(self) -> EstimateResult:
        ratio = self.lora.norm(dim=1) / self.base.norm(dim=1)
        n = int(ratio.shape[0])
        return EstimateResult(
            name=self.name,
            value=float(ratio.mean()),
            stderr=float(ratio.std() / n**0.5) if n > 1 else 0.0,
            n_tokens=n,
            params={"kind": "recorder"},
            extras={"rows": float(n), "rows_stderr": 0.0},
            units="ratio",
        )


@pytest.fixture
def recorders() -> tuple[list[RecordingEstimator], Callable[[], RecordingEstimator]]:
    """A factory for capture(estimators=[factory]) and the list of estimators it made, in
    module order."""
    made: list[RecordingEstimator] = []

    def factory() -> RecordingEstimator:
        estimator = RecordingEstimator()
        made.append(estimator)
        return estimator

    return made, factory


@pytest.fixture
def make_model() -> Callable[[str], nn.Module]:
    """``make_model(kind)`` → a tiny LoRA model, see :func:`build_tiny_model`."""
    return build_tiny_model


@pytest.fixture
def make_batch() -> Callable[..., dict[str, torch.Tensor]]:
    """``make_batch(lengths, seq_len=12, seed=0)`` → a right-padded batch."""
    return padded_batch


@dataclass
class FactoredRecordingEstimator(RecordingEstimator):
    """A recorder that also accepts the LoRA branch as factors, ``l = inner @ up``."""

    name: str = "factored-recorder"
    factored_calls: int = 0

    def update_factored(
        self,
        base: torch.Tensor,
        lora_inner: torch.Tensor,
        lora_up: torch.Tensor,
        sequence_ids: torch.Tensor | None = None,
    ) -> None:
        assert lora_inner.shape == (base.shape[0], lora_up.shape[0])
        assert lora_up.shape[1] == base.shape[1]
        self.factored_calls += 1
        self.update(base, lora_inner @ lora_up, sequence_ids)


@pytest.fixture
def factored_recorders() -> tuple[
    list[FactoredRecordingEstimator], Callable[[], RecordingEstimator]
]:
    """Like :func:`recorders`, for :class:`FactoredRecordingEstimator`."""
    made: list[FactoredRecordingEstimator] = []

    def factory() -> FactoredRecordingEstimator:
        estimator = FactoredRecordingEstimator()
        made.append(estimator)
        return estimator

    return made, factory


class SequenceGroupedCosine:
    """A real streaming estimator following the sequence-grouped protocol: the mean over tokens
    of ``cos(o_t, l_t)``, with delete-a-group jackknife replicates over groups ``id mod G``.

    With ``S_g``, ``n_g`` the sum and count of group g, the replicate without g is
    ``(S - S_g) / (N - n_g)`` and the standard error is
    ``sqrt((G' - 1)/G' * sum_g (theta_(g) - mean)^2)`` over the G' non-empty groups.
    """

    name = "seq-cosine"

    def __init__(self, n_groups: int = 16) -> None:
        self.n_groups = n_groups
        self.sums = torch.zeros(n_groups, dtype=torch.float64)
        self.counts = torch.zeros(n_groups, dtype=torch.float64)

    def update(
        self, base: torch.Tensor, lora: torch.Tensor, sequence_ids: torch.Tensor | None = None
    ) -> None:
        assert sequence_ids is not None
        values = torch.nn.functional.cosine_similarity(base, lora, dim=1).double()  # (T,)
        groups = sequence_ids % self.n_groups  # (T,)
        self.sums.index_add_(0, groups, values)
        self.counts.index_add_(0, groups, torch.ones_like(values))

    def result(self) -> EstimateResult:
        total, n = float(self.sums.sum()), float(self.counts.sum())
        kept = self.counts > 0
        leave_out = (total - self.sums) / (n - self.counts)  # (G,)
        replicates = torch.where(kept, leave_out, torch.nan)
        present = leave_out[kept]
        g = int(present.shape[0])
        spread = float(((present - present.mean()) ** 2).sum())
        stderr = math.sqrt((g - 1) / g * spread) if g > 1 else math.nan
        return EstimateResult(
            self.name,
            value=total / n,
            stderr=stderr,
            n_tokens=int(n),
            units="cosine",
            replicates={"value": replicates.tolist()},
        )
