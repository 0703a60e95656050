"""Find the LoRA-wrapped modules of a model and describe them (layer index, module type).

A *LoRA module* here is a peft ``LoraLayer`` whose base layer maps tokens to features: a
``torch.nn.Linear`` (Llama/Phi-3 projections, including the fused Phi-3 ``qkv_proj`` and
``gate_up_proj``, whose whole fused output is the module's ``d``) or a GPT-2 ``Conv1D`` (which
peft wraps with ``fan_in_fan_out``). Embedding and convolution LoRA layers are not token-aligned
feature maps in the sense of docs/method.md §2 and are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from peft.tuners.lora import LoraLayer
from torch import nn

from miub.errors import MiubUserError

ATTENTION = "attention"
FFN = "ffn"
OTHER = "other"

_LAYER_PATTERN = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks)\.(\d+)(?:\.|$)")
_ATTENTION_PARENTS = {"self_attn", "attn", "attention", "self_attention", "cross_attn"}
_FFN_PARENTS = {"mlp", "feed_forward", "ffn"}
_ATTENTION_LEAVES = {
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "qkv_proj",
    "c_attn",
    "query_key_value",
}
_FFN_LEAVES = {
    "gate_proj",
    "up_proj",
    "down_proj",
    "gate_up_proj",
    "c_fc",
    "fc1",
    "fc2",
    "w1",
    "w2",
    "w3",
}
_PEFT_PREFIX = "base_model.model."


@dataclass(frozen=True)
class LoraModuleInfo:
    """One LoRA-wrapped module found in a model.

    Attributes:
        name: dotted module name relative to the wrapped transformer (peft's
            ``base_model.model.`` prefix removed), e.g. ``"model.layers.0.self_attn.q_proj"``.
        module: the peft ``LoraLayer`` itself (its forward computes ``o + l``).
        layer: transformer block index parsed from the name (``layers.N.`` / ``h.N.``), or None.
        module_type: ``"attention"``, ``"ffn"`` or ``"other"``.
        out_features: ``d``, the size of the module output (the whole fused output for fused
            projections such as Phi-3 ``qkv_proj``).
    """

    name: str
    module: Any  # a peft LoraLayer (nn.Module); peft is not typed precisely enough
    layer: int | None
    module_type: str
    out_features: int


def parse_layer_index(name: str) -> int | None:
    """Return N from ``...layers.N....`` or ``...h.N....`` in a dotted module name, else None."""
    match = _LAYER_PATTERN.search(name)
    return int(match.group(1)) if match else None


def classify_module(name: str) -> str:
    """Return ``"attention"``, ``"ffn"`` or ``"other"`` for a dotted module name.

    The parent block decides first (so GPT-2's ``attn.c_proj`` is attention and ``mlp.c_proj``
    is FFN); otherwise the leaf name (``q_proj``, ``gate_up_proj``, ...).
    """
    parts = name.split(".")
    parents = set(parts[:-1])
    if parents & _ATTENTION_PARENTS:
        return ATTENTION
    if parents & _FFN_PARENTS:
        return FFN
    if parts[-1] in _ATTENTION_LEAVES:
        return ATTENTION
    if parts[-1] in _FFN_LEAVES:
        return FFN
    return OTHER


def _is_token_linear(layer: LoraLayer) -> bool:
    base = layer.get_base_layer()
    return isinstance(base, nn.Linear) or type(base).__name__ == "Conv1D"


def find_lora_modules(model: nn.Module) -> list[LoraModuleInfo]:
    """List the token-wise LoRA modules of ``model`` in module order.

    Raises:
        MiubUserError: if the model has no such module, or if any adapter is merged.
    """
    found: list[LoraModuleInfo] = []
    for raw_name, module in model.named_modules():
        if not isinstance(module, LoraLayer) or not _is_token_linear(module):
            continue
        if len(module.lora_B) == 0:
            continue
        name = raw_name.removeprefix(_PEFT_PREFIX)
        if module.merged:
            raise MiubUserError(
                f"LoRA adapter(s) {module.merged_adapters} are merged into {name}; the LoRA branch "
                "no longer exists — call model.unmerge_adapter() before capture"
            )
        found.append(
            LoraModuleInfo(
                name=name,
                module=module,
                layer=parse_layer_index(name),
                module_type=classify_module(name),
                out_features=int(module.out_features or 0),
            )
        )
    if not found:
        raise MiubUserError(
            f"{type(model).__name__} has no LoRA-wrapped Linear/Conv1D modules; wrap it with "
            "peft.get_peft_model(model, LoraConfig(...)) first"
        )
    return found
