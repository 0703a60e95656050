"""``miub.capture``: measure MIUB estimators in every LoRA module during ordinary forwards.

Usage::

    with miub.capture(peft_model, estimators=["js-mi", "token-jsd"], k=64) as cap:
        for batch in batches:
            peft_model(**batch)  # attention_mask in batch marks the real tokens
    res = cap.result()  # CaptureResult; res.to_dict() is JSON-able

A forward-pre-hook on the model passed in (the *top model*) marks the start of each forward,
reads its token mask, hashes its real token ids (:mod:`miub.hooks.token_hash`) and gives every
real token its *sequence id*: the global index of its sequence (a batch row with at least one
real token) counted across the forwards of this capture, so the ids, and the jackknife groups
the estimators form from them (group = id mod G, docs/method.md §3.6), do not depend on how the
sequences are batched. Taps on every LoRA module (:mod:`miub.hooks.taps`) split the module
output into base and LoRA branches and feed the estimators. Register hooks before any
``torch.compile``. The model should be in eval mode (docs/method.md §2): in training mode LoRA
dropout is part of the captured branch.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any

import torch
from torch import nn

from miub.errors import MiubUserError
from miub.hooks.modules import find_lora_modules
from miub.hooks.result import CaptureResult, ModuleResult
from miub.hooks.taps import ForwardState, ModuleTap
from miub.hooks.token_hash import TokenHash
from miub.interface import EstimateResult, StreamingEstimator

EstimatorChoice = str | Callable[[], StreamingEstimator]


def resolve_estimators(
    choices: Sequence[EstimatorChoice] | None, params: dict[str, Any]
) -> list[Callable[[], StreamingEstimator]]:
    """Turn registry names and factories into zero-argument factories.

    Each named estimator receives only the parameters it accepts (``k`` goes to ``js-mi`` but
    not to ``token-jsd``); a parameter no named estimator accepts is an error.

    Raises:
        MiubUserError: unknown estimator name or parameter.
    """
    from miub.estimators import DEFAULT_ESTIMATOR, get_spec  # lazy: a lower layer

    factories: list[Callable[[], StreamingEstimator]] = []
    used: set[str] = set()
    for choice in choices or [DEFAULT_ESTIMATOR]:
        if not isinstance(choice, str):
            factories.append(choice)
            continue
        try:
            accepted = get_spec(choice).defaults
        except ValueError as error:
            raise MiubUserError(str(error)) from None
        own = {key: value for key, value in params.items() if key in accepted}
        used.update(own)
        factories.append(partial(_make_named, choice, own))
    unused = sorted(set(params) - used)
    if unused:
        raise MiubUserError(
            f"estimator parameter(s) {', '.join(unused)} are accepted by none of the estimators "
            f"{[c for c in choices or [DEFAULT_ESTIMATOR] if isinstance(c, str)]}"
        )
    return factories


def _make_named(name: str, params: dict[str, Any]) -> StreamingEstimator:
    from miub.estimators import make_estimator

    try:
        return make_estimator(name, **params)
    except ValueError as error:
        raise MiubUserError(str(error)) from None


class Capture:
    """Context manager holding the hooks and estimators of one capture pass.

    Args:
        model: a model carrying peft LoRA modules (``PeftModel`` or any ``nn.Module``); the
            forwards to capture must be calls of this very module.
        estimators: registry names (see ``miub.list_estimators()``) or zero-argument factories
            returning a :class:`~miub.interface.StreamingEstimator`; default ``js-mi``.
        mask: name of the forward keyword that marks real tokens, a (B, T) tensor of 0/1.
            None means ``attention_mask`` (every token if absent). Any other name is removed
            from the keywords before the model sees them, so e.g.
            ``model(**batch, score_mask=m)`` measures only the tokens where ``m`` is 1.
        **estimator_params: k, tau, feature_map, seed, standardize, top_k, ...; each named
            estimator receives the ones it accepts (see :func:`resolve_estimators`).
    """

    def __init__(
        self,
        model: nn.Module,
        estimators: Sequence[EstimatorChoice] | None = None,
        mask: str | None = None,
        **estimator_params: Any,
    ) -> None:
        self.model = model
        self.estimator_choices = list(estimators) if estimators else None
        self.mask = mask
        self.estimator_params = estimator_params
        self.state_ = ForwardState()
        self.taps_: list[ModuleTap] = []
        self.n_tokens_ = 0
        self.n_forwards_ = 0
        self._hash = TokenHash()
        self._sequence_offset: int | torch.Tensor = 0  # measured sequences so far
        self._row_index_cache: tuple[tuple[int, int, torch.device], torch.Tensor] | None = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> Capture:
        infos = find_lora_modules(self.model)
        disabled = [info.name for info in infos if info.module.disable_adapters]
        if disabled:
            raise MiubUserError(
                f"adapters are disabled ({disabled[0]} and {len(disabled) - 1} more); capture "
                "needs the LoRA branch — leave the disable_adapter() context / enable adapters"
            )
        self._warn_if_dropout_active(infos)
        factories = resolve_estimators(self.estimator_choices, self.estimator_params)
        self.taps_ = [
            ModuleTap(
                info=info,
                estimators=[factory() for factory in factories],
                state=self.state_,
            )
            for info in infos
        ]
        names = [estimator.name for estimator in self.taps_[0].estimators]
        if len(set(names)) != len(names):
            raise MiubUserError(f"estimator names must be unique, got {names}")
        try:
            self._handles.append(
                self.model.register_forward_pre_hook(self._on_forward_start, with_kwargs=True)
            )
            self._handles.append(
                self.model.register_forward_hook(self._on_forward_end, always_call=True)
            )
            for tap in self.taps_:
                self._handles.extend(tap.register())
        except BaseException:
            self._remove_hooks()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._remove_hooks()

    def _remove_hooks(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for tap in self.taps_:
            tap.clear()
        self.state_.inside = False
        self.state_.rows = None
        self.state_.sequence_ids = None

    def is_active(self) -> bool:
        """True between entering and leaving the ``with`` block (hooks registered)."""
        return bool(self._handles)

    def _warn_if_dropout_active(self, infos: list[Any]) -> None:
        if not self.model.training:
            return
        for info in infos:
            for dropout in info.module.lora_dropout.values():
                if isinstance(dropout, nn.Dropout) and dropout.p > 0:
                    warnings.warn(
                        "model is in training mode with LoRA dropout; the captured LoRA branch "
                        "includes dropout — call model.eval() for docs/method.md §2 "
                        "measurements",
                        stacklevel=3,
                    )
                    return

    def _on_forward_start(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        if kwargs.get("adapter_names") is not None:
            raise MiubUserError(
                "mixed-adapter batches (adapter_names=...) are not supported by capture; "
                "run one adapter at a time with model.set_adapter(name)"
            )
        if self.mask is None or self.mask == "attention_mask":
            mask = kwargs.get("attention_mask")
            changed = False
        else:
            if self.mask not in kwargs:
                raise MiubUserError(
                    f"capture(mask={self.mask!r}) needs the forward keyword {self.mask}=<(B, T) "
                    "0/1 tensor> in every call of the model"
                )
            mask = kwargs.pop(self.mask)
            changed = True
        input_ids = kwargs.get("input_ids")
        if input_ids is None and args and isinstance(args[0], torch.Tensor):
            input_ids = args[0]
        shape = self._token_shape(input_ids, kwargs.get("inputs_embeds"), mask)
        if mask is not None and mask.dim() != 2:
            raise MiubUserError(
                f"token mask must be (batch, seq) of 0/1, got shape {tuple(mask.shape)}"
            )

        state = self.state_
        state.forward_id += 1
        state.inside = True
        state.n_rows = None if shape is None else shape[0] * shape[1]
        state.rows = None
        state.sequence_ids = None
        if mask is not None:
            n_real = self._mark_masked_rows(mask)
        elif shape is not None:
            n_real = shape[0] * shape[1]
            state.sequence_ids = self._row_sequence_ids(shape, self._device_of(input_ids, kwargs))
            self._sequence_offset = self._sequence_offset + shape[0]
        else:
            n_real = 0
        self.n_tokens_ += n_real
        self.n_forwards_ += 1
        self._hash.add(input_ids, state.rows)
        if mask is not None and n_real == 0:
            # nothing to measure (e.g. a batch of distractors in multiple-choice scoring): the
            # module hooks return at once instead of selecting zero rows in every module
            state.inside = False
        return (args, kwargs) if changed else None

    def _mark_masked_rows(self, mask: torch.Tensor) -> int:
        """Real-token rows and their sequence ids from a (B, T) 0/1 mask; returns their count.

        Sequence ids count only the sequences with at least one real token (a fully masked row,
        e.g. a distractor in multiple-choice scoring, is not a measured sequence), so they are
        the same however the measured sequences are batched. The running count stays on the
        mask's device: the only host synchronisation per forward is ``nonzero``.
        """
        state = self.state_
        width = int(mask.shape[1])
        real = mask.bool()  # (B, T)
        flat = real.reshape(-1)  # (B*T,)
        rows = flat.nonzero().squeeze(1)  # (n,) one device sync per forward, outside module hooks
        n_real = int(rows.shape[0])
        has_real = real.any(dim=1)  # (B,)
        row_ids = has_real.cumsum(0) - 1 + self._sequence_offset  # (B,) id of each measured row
        self._sequence_offset = self._sequence_offset + has_real.sum()
        if n_real < flat.shape[0]:
            state.rows = rows
            owner = torch.div(rows, width, rounding_mode="floor")  # (n,) batch row of each token
            state.sequence_ids = row_ids.index_select(0, owner)
        else:
            state.sequence_ids = row_ids.repeat_interleave(width)  # (B*T,)
        return n_real

    def _row_sequence_ids(self, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        """(B*T,) int64 sequence id of each token of an unmasked (B, T) batch."""
        batch, width = shape
        key = (batch, width, device)
        cached = self._row_index_cache
        if cached is None or cached[0] != key:
            index = torch.arange(batch, device=device).repeat_interleave(width)  # (B*T,)
            cached = self._row_index_cache = (key, index)
        return cached[1] + self._sequence_offset

    @staticmethod
    def _device_of(input_ids: torch.Tensor | None, kwargs: dict[str, Any]) -> torch.device:
        for tensor in (input_ids, kwargs.get("inputs_embeds")):
            if isinstance(tensor, torch.Tensor):
                return tensor.device
        return torch.device("cpu")

    @staticmethod
    def _token_shape(
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        mask: torch.Tensor | None,
    ) -> tuple[int, int] | None:
        for tensor in (input_ids, inputs_embeds, mask):
            if tensor is not None and tensor.dim() >= 2:
                return int(tensor.shape[0]), int(tensor.shape[1])
        if input_ids is not None and input_ids.dim() == 1:
            return 1, int(input_ids.shape[0])
        return None

    def _on_forward_end(self, module: nn.Module, args: Any, output: Any) -> None:
        self.state_.inside = False
        self.state_.rows = None
        self.state_.sequence_ids = None

    def result(self) -> CaptureResult:
        """Reduce every module's estimators and aggregate (may be called inside the block)."""
        if not self.taps_:
            raise MiubUserError("capture has not started; use `with miub.capture(model) as cap:`")
        if self.n_tokens_ == 0 or all(tap.n_updates == 0 for tap in self.taps_):
            raise MiubUserError(
                "no tokens were captured; run forwards of the model passed to capture() "
                "inside the `with` block"
            )
        taps = [tap for tap in self.taps_ if tap.n_updates > 0]
        estimates = reduce_estimators([tap.estimators for tap in taps])
        modules = [
            ModuleResult(
                name=tap.info.name,
                layer=tap.info.layer,
                module_type=tap.info.module_type,
                out_features=tap.info.out_features,
                n_updates=tap.n_updates,
                estimates={
                    est.name: result for est, result in zip(tap.estimators, results, strict=True)
                },
            )
            for tap, results in zip(taps, estimates, strict=True)
        ]
        return CaptureResult.from_modules(
            modules,
            estimators=[estimator.name for estimator in self.taps_[0].estimators],
            n_tokens=self.n_tokens_,
            n_forwards=self.n_forwards_,
            eval_hash=self._hash.hexdigest(),
        )


def reduce_estimators(
    per_module: Sequence[Sequence[StreamingEstimator]],
) -> list[list[EstimateResult]]:
    """``result()`` of every estimator of every module, ``[module][estimator]``.

    The estimators in one column (the same estimator in every module) are reduced together
    through the class's optional ``result_many(estimators)``
    (:class:`~miub.interface.ResultMany`: one batched jackknife for all modules), else one
    ``result()`` each.
    """
    if not per_module:
        return []
    columns = []
    for column in zip(*per_module, strict=True):
        reduce_many = getattr(type(column[0]), "result_many", None)
        same_class = all(type(estimator) is type(column[0]) for estimator in column)
        if callable(reduce_many) and same_class:
            columns.append(list(reduce_many(list(column))))
        else:
            columns.append([estimator.result() for estimator in column])
    return [list(row) for row in zip(*columns, strict=True)]


def capture(
    model: nn.Module,
    estimators: Sequence[EstimatorChoice] | None = None,
    mask: str | None = None,
    **estimator_params: Any,
) -> Capture:
    """Capture the base and LoRA branches of every LoRA module; see :class:`Capture`.

    Raises (on entering the ``with`` block, or from the forward that triggers it):
        MiubUserError: no LoRA modules, merged adapters, disabled adapters, or a mixed-adapter
            batch (``adapter_names=`` in the forward).
    """
    return Capture(model, estimators=estimators, mask=mask, **estimator_params)
