"""Clear errors for inputs capture cannot measure; hooks never outlive the `with` block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import miub
from miub.errors import MiubUserError


def _hook_count(model: nn.Module) -> int:
    return sum(
        len(module._forward_hooks) + len(module._forward_pre_hooks) for module in model.modules()
    )


def test_merged_adapter_is_refused(make_model, recorders):
    model = make_model("llama")
    model.merge_adapter()
    with pytest.raises(MiubUserError, match="merged"), miub.capture(model, [recorders[1]]):
        pass


def test_model_without_lora_is_refused(make_model, recorders):
    base = make_model("gpt2").get_base_model()
    plain = type(base)(base.config)
    with pytest.raises(MiubUserError, match="no LoRA"), miub.capture(plain, [recorders[1]]):
        pass


def test_disabled_adapter_is_refused_on_entry(make_model, recorders):
    model = make_model("phi3")
    with (
        model.disable_adapter(),
        pytest.raises(MiubUserError, match="disabled"),
        miub.capture(model, [recorders[1]]),
    ):
        pass


def test_disabled_adapter_is_refused_during_forward(make_model, make_batch, recorders):
    model = make_model("llama")
    before = _hook_count(model)
    with torch.no_grad(), miub.capture(model, [recorders[1]]):
        with model.disable_adapter(), pytest.raises(MiubUserError, match="disabled"):
            model(**make_batch([4]))
        model(**make_batch([4]))  # re-enabled: capture continues
    assert _hook_count(model) == before


def test_mixed_adapter_batch_is_refused(make_model, make_batch, recorders):
    model = make_model("llama")
    batch = make_batch([5, 5])
    with (
        torch.no_grad(),
        miub.capture(model, [recorders[1]]),
        pytest.raises(MiubUserError, match="adapter_names"),
    ):
        model(**batch, adapter_names=["default", "__base__"])


def test_no_forward_means_no_result(make_model, recorders):
    model = make_model("gpt2")
    with miub.capture(model, [recorders[1]]) as cap:
        pass
    with pytest.raises(MiubUserError, match="no tokens"):
        cap.result()


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_hooks_removed_after_exception(kind, make_model, make_batch, recorders):
    model = make_model(kind)
    before = _hook_count(model)
    with (
        pytest.raises(RuntimeError, match="boom"),
        torch.no_grad(),
        miub.capture(model, [recorders[1]]) as cap,
    ):
        model(**make_batch([6, 2]))
        assert _hook_count(model) > before
        raise RuntimeError("boom")
    assert _hook_count(model) == before
    assert cap.result().n_forwards == 1  # what was measured stays readable
