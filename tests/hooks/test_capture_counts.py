"""Each LoRA module is counted once per forward, also under gradient checkpointing."""

from __future__ import annotations

import pytest
import torch

import miub
from miub.hooks import find_lora_modules


def test_one_update_per_module_per_forward(make_model, make_batch, recorders):
    model = make_model("llama")
    made, factory = recorders
    with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap:
        for seed in range(3):
            model(**make_batch([6, 4], seed=seed))
    res = cap.result()
    assert res.n_forwards == 3
    assert res.n_tokens == 30
    assert all(module.n_updates == 3 for module in res.modules.values())
    assert all(len(recorder.bases) == 3 for recorder in made)


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_gradient_checkpointing_counts_each_module_once(
    kind, use_reentrant, make_model, make_batch, recorders
):
    model = make_model(kind)
    model.train()
    model.gradient_checkpointing_enable(
        gradient_checkpointing_kwargs={"use_reentrant": use_reentrant}
    )
    model.enable_input_require_grads()  # reentrant checkpointing needs an input with grad
    first = find_lora_modules(model)[0].module
    raw_calls = [0]
    counter = first.register_forward_hook(lambda *_: raw_calls.__setitem__(0, raw_calls[0] + 1))
    made, factory = recorders
    n_forwards = 2
    with miub.capture(model, estimators=[factory]) as cap:
        for seed in range(n_forwards):
            batch = make_batch([7, 5], seed=seed)
            loss = model(**batch, labels=batch["input_ids"]).loss
            loss.backward()
    counter.remove()

    assert raw_calls[0] == 2 * n_forwards, "the hooks should fire twice under checkpointing"
    assert all(module.n_updates == n_forwards for module in cap.result().modules.values())
    assert all(recorder.base.shape[0] == n_forwards * 12 for recorder in made)
    lora_grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert all(grad is not None for grad in lora_grads), "training must still work"


@pytest.mark.parametrize("use_reentrant", [False, True])
def test_gradient_checkpointing_captures_this_forwards_activations(
    use_reentrant, make_model, make_batch, recorders
):
    """Recomputation in backward may stop before a module's own hook runs (non-reentrant
    checkpointing stops early); its base output must not be paired with the next forward."""
    batches = [make_batch([7, 5], seed=seed) for seed in range(3)]
    made, factory = recorders
    reference = make_model("llama")
    with torch.no_grad(), miub.capture(reference, estimators=[factory]):
        for batch in batches:
            reference(**batch)
    expected = [(r.base, r.lora) for r in made]
    made.clear()

    model = make_model("llama")
    model.load_state_dict(reference.state_dict())
    model.train()
    model.gradient_checkpointing_enable(
        gradient_checkpointing_kwargs={"use_reentrant": use_reentrant}
    )
    model.enable_input_require_grads()
    with miub.capture(model, estimators=[factory]):
        for batch in batches:
            model(**batch, labels=batch["input_ids"]).loss.backward()
    for recorder, (base, lora) in zip(made, expected, strict=True):
        torch.testing.assert_close(recorder.base, base, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(recorder.lora, lora, rtol=1e-5, atol=1e-5)
