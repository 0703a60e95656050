"""Forward hooks that split a LoRA module's output into its base and LoRA branches.

For one peft LoRA module (METHOD.md §2) with input ``x`` (B, T, d_in) and output (B, T, d):

- ``o = base_layer(x)`` comes from a forward hook on ``base_layer``;
- vanilla LoRA: ``l = sum_a scaling[a] * lora_B[a](lora_A[a](dropout(x)))`` over the active
  adapters, from forward hooks on each ``lora_B[a]`` (so ``o + l`` is the module output exactly
  in float32);
- variants (DoRA, ...): ``l = out - o`` from a forward hook on the module itself.

Both are detached, upcast to float32, flattened to (B*T, d), restricted to the real tokens of the
current forward and handed to every estimator of the module, once per top-level forward. Nothing
here synchronises with the device (no ``.item()``): the token rows are chosen once per forward by
:class:`ForwardState`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from miub.capture.modules import LoraModuleInfo
from miub.errors import MiubUserError
from miub.interface import StreamingEstimator


@dataclass
class ForwardState:
    """What the module taps need to know about the current top-level forward.

    Attributes:
        forward_id: incremented at the start of every top-level forward.
        inside: True between the start and the end of a top-level forward. Gradient-checkpoint
            recomputation happens in backward, outside, so taps ignore it.
        rows: (n,) int64 indices of the real tokens in the flattened (B*T) batch, or None when
            every token is real.
        n_rows: B*T of the current forward, or None if unknown (then not checked).
    """

    forward_id: int = 0
    inside: bool = False
    rows: torch.Tensor | None = None
    n_rows: int | None = None


@dataclass
class ModuleTap:
    """Hooks and running state for one LoRA module.

    Attributes:
        info: the module and its description.
        estimators: streaming estimators fed with (o, l) of this module, each (n, d) float32.
        state: the shared :class:`ForwardState`.
        n_updates: forwards counted for this module (at most one per top-level forward).
    """

    info: LoraModuleInfo
    estimators: list[StreamingEstimator]
    state: ForwardState
    n_updates: int = 0
    _last_forward: int = -1
    _base_out: torch.Tensor | None = None
    _lora_parts: list[tuple[str, torch.Tensor]] = field(default_factory=list)

    def register(self) -> list[torch.utils.hooks.RemovableHandle]:
        """Attach the hooks; return their handles (the caller removes them)."""
        layer = self.info.module
        handles = [layer.base_layer.register_forward_hook(self._on_base)]
        for adapter, lora_b in layer.lora_B.items():
            handles.append(lora_b.register_forward_hook(self._lora_b_hook(adapter)))
        handles.append(layer.register_forward_hook(self._on_module))
        return handles

    def clear(self) -> None:
        """Drop references to activations of an unfinished forward."""
        self._base_out = None
        self._lora_parts = []

    def _on_base(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if self._base_out is None:
            self._base_out = output

    def _lora_b_hook(self, adapter: str) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            self._lora_parts.append((adapter, output))

        return hook

    def _on_module(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        base_out, lora_parts = self._base_out, self._lora_parts
        self.clear()
        state = self.state
        if not state.inside or self._last_forward == state.forward_id:
            return  # gradient-checkpoint recompute, or a second call within one forward
        layer = self.info.module
        if layer.disable_adapters:
            raise MiubUserError(
                f"adapters are disabled in {self.info.name} (disable_adapter() context or "
                "disable_adapters flag); capture needs the LoRA branch — enable the adapter"
            )
        if layer.merged:
            raise MiubUserError(
                f"LoRA adapter is merged into {self.info.name}; call unmerge_adapter() first"
            )
        if base_out is None:
            return
        active = [name for name in layer.active_adapters if name in layer.lora_A]
        variants = getattr(layer, "lora_variant", {})
        with torch.no_grad():
            base = base_out.detach().float()
            if any(name in variants or layer.use_dora.get(name, False) for name in active):
                lora = output.detach().float() - base
            elif lora_parts:
                lora = lora_parts[0][1].detach().float() * layer.scaling[lora_parts[0][0]]
                for name, part in lora_parts[1:]:
                    lora = lora + part.detach().float() * layer.scaling[name]
            else:
                return  # no active adapter targets this module
            self._update(base, lora)
        self._last_forward = state.forward_id
        self.n_updates += 1

    def _update(self, base: torch.Tensor, lora: torch.Tensor) -> None:
        d = base.shape[-1]
        base, lora = base.reshape(-1, d), lora.reshape(-1, d)  # (B*T, d)
        state = self.state
        if state.n_rows is not None and base.shape[0] != state.n_rows:
            raise MiubUserError(
                f"{self.info.name} produced {base.shape[0]} token rows but the batch has "
                f"{state.n_rows} tokens; capture needs full-sequence forwards (no KV cache)"
            )
        if state.rows is not None:
            base, lora = base.index_select(0, state.rows), lora.index_select(0, state.rows)
        for estimator in self.estimators:
            estimator.update(base, lora)  # (n, d) float32 each
