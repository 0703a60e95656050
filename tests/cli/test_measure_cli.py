"""End-to-end `miub measure` on tiny random Llama, Phi-3 and GPT-2 models saved to a temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Phi3Config
from typer.testing import CliRunner, Result

from miub.cli.main import app, register_commands
from miub.testing.tiny_models import build_tokenizer

TEXTS = [
    f"The river number {i} flows past {i % 7} old mills and {i % 3} bridges." for i in range(24)
]

ARCHITECTURES = {
    "llama": (
        lambda vocab: LlamaConfig(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=128,
        ),
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    ),
    "phi3": (
        lambda vocab: Phi3Config(
            vocab_size=vocab,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=128,
            pad_token_id=0,
        ),
        ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],
    ),
    "gpt2": (
        lambda vocab: GPT2Config(
            vocab_size=vocab,
            n_embd=32,
            n_layer=2,
            n_head=4,
            n_positions=128,
            bos_token_id=1,
            eos_token_id=2,
        ),
        ["c_attn", "c_proj", "c_fc"],
    ),
}


def _save_model_and_adapter(root: Path, architecture: str) -> tuple[Path, Path]:
    make_config, targets = ARCHITECTURES[architecture]
    tokenizer = build_tokenizer(TEXTS, vocab_size=300)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(make_config(len(tokenizer)))
    model_dir, adapter_dir = root / "model", root / "adapter"
    model.save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    # init_lora_weights=False: B is random, so the LoRA branch is not identically zero.
    lora = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=targets,
        init_lora_weights=False,
        fan_in_fan_out=architecture == "gpt2",
    )
    get_peft_model(model, lora).save_pretrained(str(adapter_dir))
    return model_dir, adapter_dir


def _run_measure(
    model_dir: Path, adapter_dir: Path, data: Path, out: Path, *options: str
) -> Result:
    """``miub measure`` in-process on a saved model + adapter, writing ``out``."""
    register_commands()
    paths = ["--model", str(model_dir), "--adapter", str(adapter_dir), "--data", str(data)]
    return CliRunner().invoke(app, ["measure", *paths, *options, "--json", str(out)])


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"text": text}) + "\n" for text in TEXTS))
    return path


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_measure_writes_json_with_every_module(
    tmp_path: Path, data_file: Path, architecture: str
) -> None:
    model_dir, adapter_dir = _save_model_and_adapter(tmp_path, architecture)
    out = tmp_path / "measure.json"
    options = ["--estimator", "js-mi", "--estimator", "token-jsd", "--batch-size", "5"]
    result = _run_measure(model_dir, adapter_dir, data_file, out, *options)
    assert result.exit_code == 0, result.output
    assert "By module type" in result.output and "PPL" in result.output
    record = json.loads(out.read_text())
    assert record["miub"]["estimators"] == ["js-mi", "token-jsd"]
    # Every LoRA-wrapped module of every layer was measured.
    # GPT-2's "c_proj" matches both attn.c_proj and mlp.c_proj: 4 modules per block.
    modules_per_layer = {"llama": 7, "phi3": 4, "gpt2": 4}[architecture]
    assert len(record["miub"]["modules"]) == 2 * modules_per_layer
    assert 0.0 <= record["miub"]["overall"]["js-mi"]["value"] <= 0.6932
    assert record["ppl"] == pytest.approx(torch.tensor(record["ce"]).exp().item(), rel=1e-6)
    assert record["versions"]["torch"] and record["data"]["n_texts"] == len(TEXTS)


def test_max_tokens_limits_the_pass(tmp_path: Path, data_file: Path) -> None:
    model_dir, adapter_dir = _save_model_and_adapter(tmp_path, "llama")
    out = tmp_path / "m.json"
    result = _run_measure(model_dir, adapter_dir, data_file, out, "--max-tokens", "40")
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["data"]["n_texts"] < len(TEXTS)


def test_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\nnot json\n')
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "miub.cli.main",
            "measure",
            "--model",
            str(tmp_path / "nope"),
            "--data",
            str(bad),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0, completed.stderr
    assert "bad.jsonl:2: not valid JSON" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_estimators_command_lists_the_registry() -> None:
    register_commands()
    result = CliRunner().invoke(app, ["estimators"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in (
        "js-mi",
        "mi",
        "dpi",
        "token-jsd",
        "miub-token",
        "norm-ratio",
        "cosine",
        "linear-cka",
    ):
        assert name in result.output
