"""Forward hooks that split a LoRA module's output into its base and LoRA branches.

For one peft LoRA module (docs/method.md §2) with input ``x`` (B, T, d_in) and output (B, T, d):

- ``o = base_layer(x)`` comes from a forward hook on ``base_layer``;
- vanilla LoRA: ``l = sum_a scaling[a] * lora_B[a](lora_A[a](dropout(x)))`` over the active
  adapters, from forward hooks on each ``lora_B[a]`` (so ``o + l`` is the module output exactly
  in float32);
- variants (DoRA, ...): ``l = out - o`` from a forward hook on the module itself.

Both are detached, flattened to (B*T, d), restricted to the real tokens of the current forward,
upcast to float32 and handed to every estimator of the module, once per top-level forward,
together with ``sequence_ids`` (n,): the global sequence index of each real token (see
:mod:`miub.hooks.session`). Nothing here synchronises with the device (no ``.item()``): the
token rows and their sequence ids are chosen once per forward by :class:`ForwardState`.
Estimators written to the older two-argument protocol (``update(base, lora)``) still work; they
get no sequence ids. Estimators that implement the optional :class:`FactoredUpdate` receive a
single vanilla adapter's branch as its low-rank factors instead (``l = inner @ up``), which makes
a d → k projection of ``l`` cost r·k instead of d·k flops per token.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from miub.errors import MiubUserError
from miub.hooks.modules import LoraModuleInfo
from miub.interface import FactoredUpdate, StreamingEstimator


def accepts_sequence_ids(method: Callable[..., Any]) -> bool:
    """True when an estimator's ``update`` / ``update_factored`` takes ``sequence_ids``
    (the current protocol, :class:`~miub.interface.StreamingEstimator`) or ``**kwargs``.
    Cached per function: a capture asks once per module and estimator."""
    return _accepts_sequence_ids(getattr(method, "__func__", method))


@functools.cache
def _accepts_sequence_ids(function: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "sequence_ids" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


@dataclass(frozen=True)
class LoraCall:
    """One ``lora_B[adapter]`` call: its input ``inner`` (B, T, r) and unscaled output
    (B, T, d), or None when not kept (every estimator takes the factored form)."""

    adapter: str
    inner: torch.Tensor
    output: torch.Tensor | None


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
        sequence_ids: (n,) int64 global sequence index of each real token (aligned with
            ``rows``), or None when the token shape is unknown.
    """

    forward_id: int = 0
    inside: bool = False
    rows: torch.Tensor | None = None
    n_rows: int | None = None
    sequence_ids: torch.Tensor | None = None


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
    _collecting: int = -1
    _base_out: torch.Tensor | None = None
    _lora_calls: list[LoraCall] = field(default_factory=list)
    _factored: list[bool] = field(default_factory=list)
    _takes_ids: list[bool] = field(default_factory=list)
    _takes_ids_factored: list[bool] = field(default_factory=list)
    _up_cache: tuple[tuple[int, int, float], torch.Tensor] | None = None

    def __post_init__(self) -> None:
        self._factored = [isinstance(e, FactoredUpdate) for e in self.estimators]
        self._takes_ids = [accepts_sequence_ids(e.update) for e in self.estimators]
        self._takes_ids_factored = [
            factored and accepts_sequence_ids(e.update_factored)  # type: ignore[attr-defined]
            for e, factored in zip(self.estimators, self._factored, strict=True)
        ]

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
        self._lora_calls = []

    def _collect(self) -> bool:
        """True when this call belongs to the module's first call in the current top-level
        forward. Calls outside a forward (gradient-checkpoint recomputation in backward, which
        may stop before reaching the module's own hook) are ignored, and activations left by
        an earlier forward are dropped, so they can never be paired with this one's."""
        state = self.state
        if not state.inside or self._last_forward == state.forward_id:
            return False
        if self._collecting != state.forward_id:
            self.clear()
            self._collecting = state.forward_id
        return True

    def _on_base(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if self._collect() and self._base_out is None:
            self._base_out = output

    def _lora_b_hook(self, adapter: str) -> Callable[[nn.Module, Any, torch.Tensor], None]:
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            if self._collect():
                # with only factored estimators the (B, T, d) output is not needed: do not
                # keep it alive to the module's end (it is rebuilt from the input if needed)
                kept = None if all(self._factored) else output
                self._lora_calls.append(LoraCall(adapter, args[0], kept))

        return hook

    def _on_module(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        state = self.state
        if not state.inside or self._last_forward == state.forward_id:
            return  # gradient-checkpoint recompute, or a second call within one forward
        if self._collecting != state.forward_id:
            self.clear()  # nothing collected in this forward (stale activations dropped)
        base_out, lora_calls = self._base_out, self._lora_calls
        self.clear()
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
            base = self._real_rows(base_out)  # (n, d)
            if any(name in variants or layer.use_dora.get(name, False) for name in active):
                lora = self._real_rows(output) - base  # (n, d)
                for estimator, takes_ids in zip(self.estimators, self._takes_ids, strict=True):
                    self._update(estimator, takes_ids, base, lora)
            elif lora_calls:
                self._feed_lora_calls(base, lora_calls)
            else:
                return  # no active adapter targets this module
        self._last_forward = state.forward_id
        self.n_updates += 1

    def _real_rows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, m) activation → float32 (n, m) rows of the real tokens of this forward."""
        x = x.detach()
        x = x.reshape(-1, x.shape[-1])  # (B*T, m)
        state = self.state
        if state.n_rows is not None and x.shape[0] != state.n_rows:
            raise MiubUserError(
                f"{self.info.name} produced {x.shape[0]} token rows but the batch has "
                f"{state.n_rows} tokens; capture needs full-sequence forwards (no KV cache)"
            )
        if state.rows is not None:
            x = x.index_select(0, state.rows)  # (n, m), before the upcast: fewer bytes
        return x.float()

    def _update(
        self, estimator: StreamingEstimator, takes_ids: bool, base: torch.Tensor, lora: torch.Tensor
    ) -> None:
        if takes_ids:
            estimator.update(base, lora, sequence_ids=self.state.sequence_ids)
        else:
            estimator.update(base, lora)  # type: ignore[call-arg]

    def _up_factor(self, weight: torch.Tensor, scale: float) -> torch.Tensor:
        """``scale * B^T`` (r, d) float32, rebuilt only when ``B`` changes (in-place optimiser
        steps bump the tensor's version counter) or the scale does."""
        key = (id(weight), weight._version, float(scale))
        if self._up_cache is None or self._up_cache[0] != key:
            self._up_cache = (key, weight.detach().float().t() * scale)
        return self._up_cache[1]

    def _output_of(self, call: LoraCall) -> torch.Tensor:
        """``lora_B[adapter](inner)`` (B, T, d): the kept output, else recomputed from the input
        through ``forward`` (no hooks fire), e.g. for several adapters or a biased B."""
        if call.output is not None:
            return call.output
        with torch.no_grad():
            output: torch.Tensor = self.info.module.lora_B[call.adapter].forward(call.inner)
        return output

    def _feed_lora_calls(self, base: torch.Tensor, calls: list[LoraCall]) -> None:
        """Vanilla LoRA: ``l = sum_a scaling[a] * lora_B[a](inner_a)``.

        With one adapter, estimators that implement :class:`FactoredUpdate` get the factors
        ``inner`` (n, r) and ``up = scaling * B^T`` (r, d) instead of ``l`` (n, d), so they can
        project ``l`` in r·k instead of d·k flops; the others get ``l`` itself.
        """
        layer = self.info.module
        factors: tuple[torch.Tensor, torch.Tensor] | None = None
        if len(calls) == 1 and any(self._factored):
            lora_b = layer.lora_B[calls[0].adapter]
            if getattr(lora_b, "bias", None) is None and isinstance(lora_b, nn.Linear):
                up = self._up_factor(lora_b.weight, layer.scaling[calls[0].adapter])  # (r, d)
                factors = (self._real_rows(calls[0].inner), up)  # (n, r), (r, d)
        lora: torch.Tensor | None = None
        ids = self.state.sequence_ids
        for index, estimator in enumerate(self.estimators):
            if factors is not None and self._factored[index]:
                update_factored = estimator.update_factored  # type: ignore[attr-defined]
                if self._takes_ids_factored[index]:
                    update_factored(base, *factors, sequence_ids=ids)
                else:
                    update_factored(base, *factors)
                continue
            if lora is None:
                lora = sum(
                    (
                        self._real_rows(self._output_of(call)) * layer.scaling[call.adapter]
                        for call in calls[1:]
                    ),
                    self._real_rows(self._output_of(calls[0])) * layer.scaling[calls[0].adapter],
                )  # (n, d)
            self._update(estimator, self._takes_ids[index], base, lora)  # (n, d) float32 each
