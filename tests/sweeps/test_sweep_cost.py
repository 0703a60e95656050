"""Dry-run cost estimates: parameter counts against published sizes, the FLOP formula."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from miub.sweeps.cost import (
    KNOWN_CONFIGS,
    count_lora_parameters,
    estimate_run_cost,
    parameters_from_config,
)
from miub.sweeps.grid import expand_grid
from miub.sweeps.study import load_study, shipped_studies

LLAMA3 = KNOWN_CONFIGS["meta-llama/Meta-Llama-3-8B"]


@pytest.mark.parametrize(
    ("model", "published"),  # model cards' parameter counts
    [
        ("meta-llama/Meta-Llama-3-8B", 8.03e9),
        ("microsoft/Phi-3-mini-4k-instruct", 3.82e9),
        ("Qwen/Qwen2.5-0.5B", 0.49e9),
        ("Qwen/Qwen2.5-7B", 7.61e9),
    ],
)
def test_parameter_counts_match_the_published_sizes(model: str, published: float) -> None:
    assert parameters_from_config(KNOWN_CONFIGS[model]) == pytest.approx(published, rel=0.01)


def test_lora_parameters_of_llama3_8b_at_rank_16_on_all_linears() -> None:
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    # per layer 16 * ((4096+4096)*2 + (4096+1024)*2 + (4096+14336)*3) = 1,310,720; 32 layers
    assert count_lora_parameters(LLAMA3, 16, targets) == 41_943_040


def test_run_cost_follows_the_documented_formula() -> None:
    study = load_study(shipped_studies()["paper-llama3-8b"])
    run = expand_grid(study)[0]
    cost = estimate_run_cost(run, LLAMA3, mfu=0.5, peak_tflops=1000.0, tokens_per_example=100)
    config = run.config
    tokens = config.data_size * config.epochs * 100
    n, lora = parameters_from_config(LLAMA3), cost.lora_parameters
    flops = (6 * n + 6 * lora) * tokens  # gradient checkpointing is on: + 2·N·T
    assert cost.tokens == tokens and cost.flops == pytest.approx(flops, rel=1e-12)
    assert cost.gpu_hours == pytest.approx(flops / (0.5 * 1e15) / 3600, rel=1e-12)


def test_dry_run_prints_the_total_cost(tmp_path: Path) -> None:
    from miub.cli.main import app, register_commands

    register_commands()
    result = CliRunner().invoke(
        app,
        ["sweep", "model-size-qwen2.5", "--out", str(tmp_path), "--dry-run", "--mfu", "0.5"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "estimated training cost of 96 runs:" in result.output
    assert "GPU-hours at MFU 0.5 of 989 TFLOP/s" in result.output
