"""``miub.capture``: measure MIUB estimators in every LoRA module during ordinary forwards.

Usage::

    with miub.capture(peft_model, estimators=["js-mi", "token-jsd"], k=64) as cap:
        for batch in batches:
            peft_model(**batch)  # attention_mask in batch marks the real tokens
    res = cap.result()  # CaptureResult; res.to_dict() is JSON-able

A forward-pre-hook on the model passed in (the *top model*) marks the start of each forward,
reads its token mask and hashes its real token ids; taps on every LoRA module
(:mod:`miub.hooks.taps`) split the module output into base and LoRA branches and feed the
estimators. Register hooks before any ``torch.compile``. The model should be in eval mode
(METHOD.md §2): in training mode LoRA dropout is part of the captured branch.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any

import torch
from torch import nn

from miub.hooks.modules import find_lora_modules
from miub.hooks.result import CaptureResult, ModuleResult
from miub.hooks.taps import ForwardState, ModuleTap
from miub.errors import MiubUserError
from miub.interface import StreamingEstimator

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
        self._hasher: Any = hashlib.sha256()
        self._hash_complete = True
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

    def _warn_if_dropout_active(self, infos: list[Any]) -> None:
        if not self.model.training:
            return
        for info in infos:
            for dropout in info.module.lora_dropout.values():
                if isinstance(dropout, nn.Dropout) and dropout.p > 0:
                    warnings.warn(
                        "model is in training mode with LoRA dropout; the captured LoRA branch "
                        "includes dropout — call model.eval() for METHOD.md §2 measurements",
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

        state = self.state_
        state.forward_id += 1
        state.inside = True
        state.n_rows = None if shape is None else shape[0] * shape[1]
        state.rows = None
        n_real = state.n_rows or 0
        if mask is not None:
            if mask.dim() != 2:
                raise MiubUserError(
                    f"token mask must be (batch, seq) of 0/1, got shape {tuple(mask.shape)}"
                )
            flat = mask.reshape(-1).bool()  # (B*T,)
            rows = flat.nonzero().squeeze(1)  # one device sync per forward, outside module hooks
            n_real = int(rows.shape[0])
            if n_real < flat.shape[0]:
                state.rows = rows
        self.n_tokens_ += n_real
        self.n_forwards_ += 1
        self._update_hash(input_ids)
        return (args, kwargs) if changed else None

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

    def _update_hash(self, input_ids: torch.Tensor | None) -> None:
        if input_ids is None:
            self._hash_complete = False
            return
        ids = input_ids.detach().reshape(-1)
        if self.state_.rows is not None:
            ids = ids.index_select(0, self.state_.rows)
        self._hasher.update(ids.to("cpu", torch.int64).numpy().tobytes())

    def _on_forward_end(self, module: nn.Module, args: Any, output: Any) -> None:
        self.state_.inside = False
        self.state_.rows = None

    def result(self) -> CaptureResult:
        """Reduce every module's estimators and aggregate (may be called inside the block)."""
        if not self.taps_:
            raise MiubUserError("capture has not started; use `with miub.capture(model) as cap:`")
        if self.n_tokens_ == 0 or all(tap.n_updates == 0 for tap in self.taps_):
            raise MiubUserError(
                "no tokens were captured; run forwards of the model passed to capture() "
                "inside the `with` block"
            )
        modules = [
            ModuleResult(
                name=tap.info.name,
                layer=tap.info.layer,
                module_type=tap.info.module_type,
                out_features=tap.info.out_features,
                n_updates=tap.n_updates,
                estimates={est.name: est.result() for est in tap.estimators},
            )
            for tap in self.taps_
            if tap.n_updates > 0
        ]
        return CaptureResult.from_modules(
            modules,
            estimators=[estimator.name for estimator in self.taps_[0].estimators],
            n_tokens=self.n_tokens_,
            n_forwards=self.n_forwards_,
            eval_hash=self._hasher.hexdigest() if self._hash_complete else None,
        )


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
