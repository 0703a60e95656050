"""Fixtures for sweep tests: a local model directory (no zoo needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A directory with a Llama-style config.json (hidden 16, 2 heads of 8, 1 KV head)."""
    folder = tmp_path / "tiny-model"
    folder.mkdir()
    config = {
        "model_type": "llama",
        "hidden_size": 16,
        "intermediate_size": 48,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
    }
    (folder / "config.json").write_text(json.dumps(config))
    return folder
