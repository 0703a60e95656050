"""Capture hands each estimator exactly the base and LoRA branches of the real tokens."""

from __future__ import annotations

import pytest
import torch

import miub
from miub.errors import MiubUserError
from miub.hooks import classify_module, find_lora_modules
from miub.hooks.modules import parse_layer_index

EXPECTED = {
    "llama": (14, {"attention": 8, "ffn": 6}),
    "llama-dora": (14, {"attention": 8, "ffn": 6}),
    "phi3": (8, {"attention": 4, "ffn": 4}),
    "gpt2": (8, {"attention": 4, "ffn": 4}),
}


def _record_module_outputs(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], list]:
    outputs: dict[str, torch.Tensor] = {}
    handles = []
    for info in find_lora_modules(model):

        def hook(module, args, output, name=info.name):
            outputs[name] = output.detach().reshape(-1, output.shape[-1])  # (B*T, d)

        handles.append(info.module.register_forward_hook(hook))
    return outputs, handles


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_base_plus_lora_equals_module_output(kind, make_model, make_batch, recorders):
    model = make_model(kind)
    made, factory = recorders
    batch = make_batch([12, 7, 3])
    real = batch["attention_mask"].reshape(-1).bool()
    outputs, handles = _record_module_outputs(model)
    with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap:
        model(**batch)
    for handle in handles:
        handle.remove()

    infos = find_lora_modules(model)
    n_modules, per_type = EXPECTED[kind]
    assert len(infos) == len(made) == n_modules
    assert {t: sum(i.module_type == t for i in infos) for t in per_type} == per_type
    tolerance = 1e-5 if kind == "llama-dora" else 1e-6  # DoRA: l = out - o, one rounding
    for info, recorder in zip(infos, made, strict=True):
        expected = outputs[info.name][real]  # (n_real, d)
        assert recorder.base.shape == (int(real.sum()), info.out_features)
        assert recorder.lora.abs().max() > 0, "LoRA branch should be non-zero"
        torch.testing.assert_close(recorder.base + recorder.lora, expected, rtol=0, atol=tolerance)
    res = cap.result()
    assert res.n_tokens == int(real.sum())
    assert set(res.by_layer) == {0, 1}


def test_fused_phi3_modules_use_whole_fused_output(make_model):
    model = make_model("phi3")
    widths = {info.name.rsplit(".", 1)[-1]: info.out_features for info in find_lora_modules(model)}
    head_dim = 32 // 4
    assert widths["qkv_proj"] == 32 + 2 * 2 * head_dim
    assert widths["gate_up_proj"] == 2 * 48


def test_padding_tokens_do_not_change_results(make_model, make_batch, recorders):
    model = make_model("llama")
    made, factory = recorders
    batch = make_batch([10, 4], seq_len=10)
    garbage = dict(batch)
    garbage["input_ids"] = batch["input_ids"].where(batch["attention_mask"].bool(), 55)
    with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap_clean:
        model(**batch)
    first = [(r.base, r.lora) for r in made]
    made.clear()
    with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap_garbage:
        model(**garbage)
    for (base, lora), recorder in zip(first, made, strict=True):
        assert base.shape[0] == 14
        torch.testing.assert_close(recorder.base, base, rtol=0, atol=1e-6)
        torch.testing.assert_close(recorder.lora, lora, rtol=0, atol=1e-6)
    assert cap_clean.result().eval_hash == cap_garbage.result().eval_hash


def test_eval_hash_depends_on_real_tokens_only(make_model, make_batch, recorders):
    model = make_model("gpt2")
    _, factory = recorders
    hashes = []
    for seed in (0, 0, 1):
        with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap:
            model(**make_batch([5, 3], seed=seed))
        hashes.append(cap.result().eval_hash)
    assert hashes[0] == hashes[1] != hashes[2]
    assert hashes[0] is not None and len(hashes[0]) == 64


def test_custom_mask_keyword_selects_tokens_and_is_not_passed_on(make_model, make_batch, recorders):
    model = make_model("llama")
    made, factory = recorders
    batch = make_batch([8, 8], seq_len=8)
    score_mask = torch.zeros(2, 8, dtype=torch.long)
    score_mask[:, 5:] = 1
    with torch.no_grad(), miub.capture(model, estimators=[factory], mask="score_mask") as cap:
        model(**batch, score_mask=score_mask)
    assert all(recorder.base.shape[0] == 6 for recorder in made)
    assert cap.result().n_tokens == 6


def test_no_mask_means_every_token(make_model, make_batch, recorders):
    model = make_model("phi3")
    made, factory = recorders
    input_ids = make_batch([6, 6], seq_len=6)["input_ids"]
    with torch.no_grad(), miub.capture(model, estimators=[factory]):
        model(input_ids)  # positional, no attention mask
    assert all(recorder.base.shape[0] == 12 for recorder in made)


def test_hooks_never_call_item(make_model, make_batch, recorders, monkeypatch):
    model = make_model("llama")
    _, factory = recorders
    batch = make_batch([9, 4])
    calls = [0]
    original = torch.Tensor.item

    def spying_item(self):
        calls[0] += 1
        return original(self)

    def count_item_calls() -> int:
        calls[0] = 0
        with monkeypatch.context() as patch, torch.no_grad():
            patch.setattr(torch.Tensor, "item", spying_item)
            model(**batch)
        return calls[0]

    without_capture = count_item_calls()
    with miub.capture(model, estimators=[factory]):
        with_capture = count_item_calls()
    assert with_capture == without_capture


@pytest.mark.parametrize(
    ("name", "module_type", "layer"),
    [
        ("model.layers.3.self_attn.q_proj", "attention", 3),
        ("model.layers.0.self_attn.qkv_proj", "attention", 0),
        ("model.layers.12.mlp.gate_up_proj", "ffn", 12),
        ("model.layers.1.mlp.down_proj", "ffn", 1),
        ("transformer.h.2.attn.c_attn", "attention", 2),
        ("transformer.h.2.attn.c_proj", "attention", 2),
        ("transformer.h.5.mlp.c_proj", "ffn", 5),
        ("transformer.h.5.mlp.c_fc", "ffn", 5),
        ("lm_head", "other", None),
    ],
)
def test_module_names_are_classified(name, module_type, layer):
    assert classify_module(name) == module_type
    assert parse_layer_index(name) == layer


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_factored_lora_branch_matches_module_output(
    kind, make_model, make_batch, recorders, factored_recorders
):
    model = make_model(kind)
    plain, plain_factory = recorders
    factored, factored_factory = factored_recorders
    batch = make_batch([11, 6])
    with torch.no_grad(), miub.capture(model, estimators=[factored_factory, plain_factory]):
        model(**batch)
    for full, low_rank in zip(plain, factored, strict=True):
        # DoRA is a variant: no factors, l = out - o for every estimator
        assert low_rank.factored_calls == (0 if kind == "llama-dora" else 1)
        torch.testing.assert_close(low_rank.base, full.base, rtol=0, atol=0)
        torch.testing.assert_close(low_rank.lora, full.lora, rtol=1e-4, atol=1e-5)


def test_estimator_parameters_are_routed_and_checked(make_model):
    pytest.importorskip("miub.estimators")
    model = make_model("llama")
    with (
        pytest.raises(MiubUserError, match="accepted by none"),
        miub.capture(model, ["token-jsd"], k=8),
    ):
        pass
    with pytest.raises(MiubUserError, match="unknown estimator"), miub.capture(model, ["nope"]):
        pass


def test_capture_under_inference_mode(make_model, make_batch):
    pytest.importorskip("miub.estimators")
    model = make_model("gpt2")
    with torch.inference_mode(), miub.capture(model, ["js-mi", "token-jsd"], k=8) as cap:
        model(**make_batch([9, 4]))
        model(**make_batch([7], seed=1))
    res = cap.result()
    assert res.n_tokens == 20
    assert all(value.value == value.value for value in res.overall.values())  # not NaN


def test_missing_custom_mask_keyword_is_an_error(make_model, make_batch, recorders):
    model = make_model("llama")
    with (
        torch.no_grad(),
        miub.capture(model, [recorders[1]], mask="score_mask"),
        pytest.raises(MiubUserError, match="score_mask"),
    ):
        model(**make_batch([4]))


def test_factored_branch_follows_in_place_weight_updates(
    make_model, make_batch, recorders, factored_recorders
):
    """An optimiser step between two forwards changes lora_B in place; the factored branch of
    the second forward must use the new weights (the cached scale * B^T is rebuilt)."""
    model = make_model("llama")
    plain, plain_factory = recorders
    factored, factored_factory = factored_recorders
    with torch.no_grad(), miub.capture(model, estimators=[factored_factory, plain_factory]):
        model(**make_batch([8, 5]))
        for info in find_lora_modules(model):
            info.module.lora_B["default"].weight.mul_(-3.0)
        model(**make_batch([6, 4], seed=1))
    for full, low_rank in zip(plain, factored, strict=True):
        assert low_rank.factored_calls == 2
        torch.testing.assert_close(low_rank.lora, full.lora, rtol=1e-5, atol=1e-6)


def test_two_active_adapters_with_factored_estimators_only(
    make_model, make_batch, factored_recorders
):
    """Factored-only estimators: lora_B's output is not kept; with two active adapters the
    factored form does not apply and the branch is rebuilt from lora_B's input — it must still
    equal the module output minus the base branch."""
    from peft import LoraConfig

    model = make_model("llama")
    model.add_adapter(
        "second", LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    model.base_model.set_adapter(["default", "second"])
    made, factory = factored_recorders
    batch = make_batch([9, 5])
    real = batch["attention_mask"].reshape(-1).bool()
    outputs, handles = _record_module_outputs(model)
    with torch.no_grad(), miub.capture(model, estimators=[factory]):
        model(**batch)
    for handle in handles:
        handle.remove()
    both = 0
    for info, recorder in zip(find_lora_modules(model), made, strict=True):
        expected = outputs[info.name][real]  # (n_real, d)
        torch.testing.assert_close(recorder.base + recorder.lora, expected, rtol=0, atol=1e-5)
        both += int(recorder.factored_calls == 0)  # q, v: two adapters, no factors
    assert both > 0
