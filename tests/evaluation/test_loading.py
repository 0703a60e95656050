"""load_model_and_tokenizer / load_adapter through the real from_pretrained path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model

from miub.errors import MiubUserError
from miub.models import count_parameters, load_adapter, load_model_and_tokenizer, resolve_device


def test_round_trip_from_a_local_dir(tiny_model, tiny_tokenizer, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path / "model")
    tiny_tokenizer.save_pretrained(tmp_path / "model")
    model, tokenizer = load_model_and_tokenizer(str(tmp_path / "model"), device="cpu")
    assert not model.training
    assert tokenizer.pad_token_id is not None
    ids = torch.tensor([tokenizer("red sky").input_ids])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, tiny_model(ids).logits)
    assert (tmp_path / "model" / "model.safetensors").is_file()


def test_adapter_round_trip(tiny_model, tiny_tokenizer, tmp_path: Path) -> None:
    tiny_model.save_pretrained(tmp_path / "model")
    tiny_tokenizer.save_pretrained(tmp_path / "model")
    peft_model = get_peft_model(
        tiny_model, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False)
    )
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        expected = peft_model(ids).logits
    peft_model.unload()  # restore the shared session model
    base, _ = load_model_and_tokenizer(str(tmp_path / "model"), device="cpu")
    loaded = load_adapter(base, tmp_path / "adapter")
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, expected)


def test_missing_things_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(MiubUserError, match="does not exist"):
        load_model_and_tokenizer(str(tmp_path / "nope"))
    with pytest.raises(MiubUserError, match="not found"):
        load_model_and_tokenizer(str(tmp_path))  # a dir without a checkpoint
    with pytest.raises(MiubUserError, match="not found locally"):
        load_model_and_tokenizer("miub-test/definitely-not-a-model")
    with pytest.raises(MiubUserError, match="adapter_config"):
        load_adapter(torch.nn.Linear(2, 2), tmp_path)  # type: ignore[arg-type]
    with pytest.raises(MiubUserError, match="dtype"):
        load_model_and_tokenizer(str(tmp_path), dtype="float8")


def test_resolve_device_and_parameter_counts(tiny_model) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    counts = count_parameters(tiny_model)
    embeddings = tiny_model.get_input_embeddings().weight.numel() * 2  # untied head
    assert counts["total"] == sum(p.numel() for p in tiny_model.parameters())
    assert counts["non_embedding"] == counts["total"] - embeddings
