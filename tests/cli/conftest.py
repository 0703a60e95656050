"""Fixtures of the CLI tests (issue 13): a small world of models, adapters, data files and
sweep dirs, intact and damaged, built once per session, and a read-only copy of a sweep dir
(helpers: ``cli_helpers.py``)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import yaml
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig

from miub.testing.tiny_models import build_tokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweeps"))
from cli_helpers import PNG, STORE_DAMAGE, TEXTS, run_cli
from sweep_helpers import SYNTHETIC, study_data


def _llama(vocab: int, hidden: int, intermediate: int | None = None) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
        max_position_embeddings=1024,
    )  # fmt: skip


def _sweep(study: Path, out: Path) -> Path:
    os.environ["MIUB_RUN_FUNCTION"] = SYNTHETIC
    try:
        assert run_cli(["sweep", str(study), "--out", str(out)]) == 0
    finally:
        del os.environ["MIUB_RUN_FUNCTION"]
    return out


def _damaged_copy(sweep: Path, target: Path, damage: str) -> Path:
    shutil.copytree(sweep, target)
    store = target / "runs.sqlite"
    data = store.read_bytes()
    if damage == "missing":
        store.unlink()
    elif damage == "mismatch":  # a sound store that lost one run listed in results.csv
        with sqlite3.connect(store) as db:
            db.execute("DELETE FROM runs WHERE run_key = (SELECT MIN(run_key) FROM runs)")
        with sqlite3.connect(store) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        store.write_bytes(
            {
                "tail-garbage": data[:-4096] + b"\xff" * 4096,
                "head-garbage": b"\xff" * 100 + data[100:],
                "half": data[: len(data) // 2],
                "empty": b"",
            }[damage]
        )
    return target


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny models (hidden 16 and 24; one with a 1100-wide FFN), adapters of them (intact and
    damaged), data files, finished sweep dirs (24 runs; 1 run; 3 ranks × 1 seed), damaged
    copies of the 24-run store, and study files that must be refused."""
    root = tmp_path_factory.mktemp("bad-input")
    tokenizer = build_tokenizer(TEXTS, vocab_size=120)
    paths: dict[str, Path] = {}
    for name, hidden, intermediate in (("model_s", 16, None), ("model_m", 24, None),
                                       ("model_wide", 16, 1100)):  # fmt: skip
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(_llama(len(tokenizer), hidden, intermediate))
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        paths[name] = root / name
    for model_name, adapter, targets in (("model_s", "adapter", ["q_proj", "v_proj"]),
                                         ("model_wide", "adapter_wide", ["up_proj"])):  # fmt: skip
        base = AutoModelForCausalLM.from_pretrained(paths[model_name])
        lora = LoraConfig(r=2, lora_alpha=4, target_modules=targets)
        get_peft_model(base, lora).save_pretrained(str(root / adapter))
        paths[adapter] = root / adapter
    for broken in ("no_weights", "truncated", "bad_json"):
        target = root / f"adapter_{broken}"
        shutil.copytree(paths["adapter"], target)
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
    studies = {
        "study": study_data(),
        "study_one": study_data(grid__models=["org/model-a"], grid__ranks=[1],
                                grid__data_sizes=[16], grid__seeds=[0]),
        "study_one_seed": study_data(grid__models=["org/model-a"], grid__ranks=[1, 2, 4],
                                     grid__data_sizes=[16], grid__seeds=[0]),
        "study_cuda": study_data(training={**study_data()["training"], "device": "cuda"}),
        "study_f64": study_data(training={**study_data()["training"], "dtype": "float64"}),
        "study_every_bad": study_data(grid__tasks=["recall", "nosuchtask"],
                                      estimators=["js-mi", "jsmi"]),
    }  # fmt: skip
    for name, content in studies.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump(content))
        paths[name] = root / f"{name}.yaml"
    paths["sweep"] = _sweep(paths["study"], root / "sweep")
    paths["sweep_one"] = _sweep(paths["study_one"], root / "sweep_one")
    paths["sweep_one_seed"] = _sweep(paths["study_one_seed"], root / "sweep_one_seed")
    for damage in (*STORE_DAMAGE, "missing", "mismatch"):
        paths[f"store_{damage}"] = _damaged_copy(paths["sweep"], root / f"store_{damage}", damage)
    return paths


@pytest.fixture(scope="session")
def read_only(world: dict[str, Path]) -> Iterator[Path]:
    """A copy of the finished sweep dir that cannot be written: mode 555 for a normal user;
    for root (whom modes do not stop) a read-only bind mount (EROFS); else the cases skip."""
    folder = world["sweep"].parent / "read_only_sweep"
    shutil.copytree(world["sweep"], folder)
    entries = [folder, *folder.rglob("*")]
    if os.geteuid() != 0:
        for entry in entries:
            entry.chmod(entry.stat().st_mode & ~0o222)
        yield folder
        for entry in entries:
            entry.chmod(entry.stat().st_mode | 0o200)
        return
    commands = [["mount", "--bind", str(folder), str(folder)],
                ["mount", "-o", "remount,bind,ro", str(folder)]]  # fmt: skip
    for command in commands:
        done = subprocess.run(command, capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", str(folder)], capture_output=True, check=False)
            pytest.skip("root here cannot make a read-only directory (mount failed)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)
