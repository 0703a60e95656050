"""A quick ``build_zoo`` smoke build and the ``miub zoo`` commands."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from miub import zoo
from miub.cli.zoo import zoo_app
from miub.runners.zoo_build import build_zoo
from miub.zoo.pretrain import PretrainSettings
from miub.zoo.specs import MODEL_SPECS


def test_smoke_build_writes_a_verifiable_loadable_zoo(tmp_path: Path) -> None:
    settings = PretrainSettings(steps=2, batch_size=2, seq_len=32)
    built = build_zoo(tmp_path, MODEL_SPECS[:1], settings, log=lambda _: None, zero_shot=False)
    name = MODEL_SPECS[0].name
    assert zoo.verify(tmp_path) == []
    assert zoo.names(tmp_path) == [name]
    assert built["models"][name]["pretraining_tokens"] == 2 * 2 * 32
    assert built["corpus"]["sha256"] == zoo.manifest()["corpus"]["sha256"]  # same corpus
    model, _ = zoo.load(name, tmp_path)
    assert model.config.hidden_size == MODEL_SPECS[0].hidden_size
    (tmp_path / name / "config.json").write_text(json.dumps({"tampered": True}))
    assert zoo.verify(tmp_path) == [f"sha256 mismatch: {name}/config.json"]


def test_cli_list_and_verify() -> None:
    runner = CliRunner()
    listed = runner.invoke(zoo_app, ["list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert all(name in listed.output for name in zoo.names())
    verified = runner.invoke(zoo_app, ["verify"])
    assert verified.exit_code == 0 and "ok" in verified.output
