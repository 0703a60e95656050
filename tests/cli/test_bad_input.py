"""Bad input and faults (issue 13): every user error is one line on stderr, exit code 2, no
traceback, and an existing study dir's ``runs.sqlite`` / ``results.csv`` stay byte-identical.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/cli/test_bad_input.py``.
Each case calls the real entry point :func:`miub.cli.main.main` in-process; an exception
escaping it (a traceback) fails the case.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig

from miub.cli.main import main
from miub.testing.tiny_models import build_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweeps"))
from sweep_helpers import SYNTHETIC, study_data

TEXTS = [f"The mill number {i} stands by {i % 5} bridges." for i in range(16)]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def _llama(vocab: int, hidden: int) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
    )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny models (hidden 16 and 24), an adapter of the first, a data file, a finished
    sweep dir, and damaged copies of adapters and data."""
    root = tmp_path_factory.mktemp("bad-input")
    tokenizer = build_tokenizer(TEXTS, vocab_size=120)
    paths: dict[str, Path] = {}
    for name, hidden in (("model_s", 16), ("model_m", 24)):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(_llama(len(tokenizer), hidden))
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        paths[name] = root / name
    base = AutoModelForCausalLM.from_pretrained(paths["model_s"])
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])
    get_peft_model(base, lora).save_pretrained(str(root / "adapter"))
    paths["adapter"] = root / "adapter"
    for broken in ("no_weights", "truncated", "bad_json"):
        target = root / f"adapter_{broken}"
        target.mkdir()
        for file in (root / "adapter").iterdir():
            (target / file.name).write_bytes(file.read_bytes())
        paths[f"adapter_{broken}"] = target
    (paths["adapter_no_weights"] / "adapter_model.safetensors").unlink()
    weights = paths["adapter_truncated"] / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:7])
    (paths["adapter_bad_json"] / "adapter_config.json").write_text("{not json")
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    paths["data"] = data
    (root / "image.png").write_bytes(PNG)
    paths["png"] = root / "image.png"
    (root / "latin1.jsonl").write_bytes('{"text": "caf\xe9"}\n'.encode("latin-1"))
    paths["latin1"] = root / "latin1.jsonl"
    (root / "badline.jsonl").write_text('{"text": "ok"}\n{"text": oops}\n')
    paths["badline"] = root / "badline.jsonl"
    (root / "afile").write_text("x")
    paths["file"] = root / "afile"
    study = root / "study.yaml"
    study.write_text(yaml.safe_dump(study_data()))
    paths["study"] = study
    os.environ["MIUB_RUN_FUNCTION"] = SYNTHETIC
    try:
        assert _run(["sweep", str(study), "--out", str(root / "sweep")])[0] == 0
    finally:
        del os.environ["MIUB_RUN_FUNCTION"]
    paths["sweep"] = root / "sweep"
    for name, settings in (("cuda", {"device": "cuda"}), ("f64", {"dtype": "float64"})):
        data_ = study_data()
        data_["training"].update(settings)
        (root / f"study_{name}.yaml").write_text(yaml.safe_dump(data_))
        paths[f"study_{name}"] = root / f"study_{name}.yaml"
    return paths


def _run(argv: list[str]) -> tuple[int, str]:
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0), ""
    return 0, ""


def _digest(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("runs.sqlite", "results.csv")
        if (folder / name).exists()
    }


M, D, A, S = "--model", "--data", "--adapter", "--study"
Case = tuple[str, Callable[[dict[str, Path], Path], list[str]], str]
CASES: list[Case] = [
    # (id, argv from (paths, tmp), expected text in the one error line) — the table
    ("measure-adapter-wrong-base", lambda p, t: ["measure", M, str(p["model_m"]), A, str(p["adapter"]), D, str(p["data"])], "layer"),
    ("measure-adapter-no-weights", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter_no_weights"]), D, str(p["data"])], "adapter_model.safetensors is missing"),
    ("measure-adapter-truncated", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter_truncated"]), D, str(p["data"])], "re-save the adapter"),
    ("measure-adapter-bad-json", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter_bad_json"]), D, str(p["data"])], "re-save the adapter"),
    ("measure-data-png", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["png"])], "byte offset"),
    ("measure-data-latin1", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["latin1"])], "byte offset"),
    ("measure-data-bad-line", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["badline"])], ":2:"),
    ("measure-k-huge", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--k", "100000"], "--k"),
    ("measure-json-dir", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--json", str(t)], "--json"),
    ("measure-json-missing-dir", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--json", str(t / "no" / "x.json")], "does not exist"),
    ("measure-tau-nan", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--tau", "nan"], "--tau"),
    ("measure-tau-inf", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--tau", "inf"], "--tau"),
    ("measure-tau-zero", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--tau", "0"], "--tau"),
    ("measure-max-length-0", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--max-length", "0"], "--max-length"),
    ("measure-max-length-neg", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--max-length", "-5"], "--max-length"),
    ("measure-max-length-past-context", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--max-length", "4096"], "context"),
    ("measure-batch-0", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--batch-size", "0"], "--batch-size"),
    ("measure-threads-0", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--threads", "0"], "--threads"),
    ("measure-feature-map", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--feature-map", "nope"], "--feature-map"),
    ("measure-estimator", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "-e", "nope"], "--estimator"),
    ("measure-model-png", lambda p, t: ["measure", M, str(p["png"]), D, str(p["data"])], "png"),
    ("zoo-build-threads-0", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--threads", "0"], "--threads"),
    ("zoo-build-steps-neg", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--steps", "-1"], "--steps"),
    ("zoo-build-batch-0", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--batch-size", "0"], "--batch-size"),
    ("zoo-build-seq-0", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--seq-len", "0"], "--seq-len"),
    ("zoo-build-out-file", lambda p, t: ["zoo", "build", "--out", str(p["file"]), "--steps", "1"], "--out"),
    ("train-out-file", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(p["file"])], "--out"),
    ("train-epochs-inf", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--epochs", "inf"], "--epochs"),
    ("train-lr-inf", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--lr", "inf"], "--lr"),
    ("train-lr-huge", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--lr", "1e30"], "--lr"),
    ("train-alpha-nan", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--alpha", "nan"], "--alpha"),
    ("train-rank-0", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--rank", "0"], "--rank"),
    ("train-bad-override", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "eval.kk=3"], "eval.kk"),
    ("train-override-no-equals", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "rank"], "key.path=value"),
    ("train-config-png", lambda p, t: ["train", "--config", str(p["png"]), "--out", str(t / "r")], "--config"),
    ("train-dtype", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--dtype", "float64"], "--dtype"),
    ("sweep-study-png", lambda p, t: ["sweep", str(p["png"]), "--out", str(t / "s")], "UTF-8"),
    ("sweep-device-cuda", lambda p, t: ["sweep", str(p["study_cuda"]), "--out", str(t / "s")], "device"),
    ("sweep-dtype-f64", lambda p, t: ["sweep", str(p["study_f64"]), "--out", str(t / "s")], "dtype"),
    ("sweep-hub-id-offline", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s")], "not in the local Hugging Face cache"),
    ("sweep-out-file", lambda p, t: ["sweep", str(p["study"]), "--out", str(p["file"]), "--run-function", SYNTHETIC], "not a writable directory"),
    ("sweep-set-bad-key", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--set", "training.epochz=2"], "did you mean epochs"),
    ("sweep-set-bad-value", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--set", "training.learning_rate=nan"], "learning_rate"),
    ("sweep-changed-study", lambda p, t: ["sweep", str(p["study"]), "--out", str(p["sweep"]), "--run-function", SYNTHETIC, "--set", "grid.ranks=[1]"], "--allow-changed"),
    ("sweep-workers-0", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--workers", "0"], "--workers"),
    ("train-existing-run", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(p["sweep"] / "runs" / next(iter(sorted(x.name for x in (p["sweep"] / "runs").iterdir()))))], "--overwrite"),
    ("runs-not-a-sweep", lambda p, t: ["runs", str(t)], "runs.sqlite"),
    ("unknown-option", lambda p, t: ["measure", "--nope"], "--nope"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2(
    case: Case, world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, argv, expected = case
    if name == "sweep-device-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    before = _digest(world["sweep"])
    capsys.readouterr()
    code, _ = _run(argv(world, tmp_path))  # an escaping exception fails the case
    err = capsys.readouterr().err
    # warnings (e.g. an uncached hub id with a stand-in run function) may precede the error
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning:")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    assert expected.lower() in lines[0].lower(), lines[0]
    assert _digest(world["sweep"]) == before
