"""Reproduce the Epoch AI refit of Chinchilla's Figure 4 (Besiroglu et al. 2024).

Their fit of ``E + A/N^α + B/D^β`` on the extracted points, after dropping the 5 highest
losses: E = 1.82 (SE .03), A = 482 (125), B = 2085 (1293), α = 0.348 (.02), β = 0.366 (.02).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from miub import laws

CSV = (
    Path(__file__).parent / "data" / "chinchilla_fig4_epoch.csv"
)  # copy of shared/data (public, Epoch AI)
EPOCH = {
    "E": (1.82, 0.03),
    "A": (482, 125),
    "B": (2085, 1293),
    "alpha": (0.348, 0.02),
    "beta": (0.366, 0.02),
}
# Epoch's grid, every other point: e ∈ {−1, 0, 1}, a, b ∈ {0, 10, 20}, α, β ∈ {0, 1, 2}.
COARSE_EPOCH_GRID = {
    "e": [-1.0, 0.0, 1.0],
    "a": [0.0, 10.0, 20.0],
    "b": [0.0, 10.0, 20.0],
    "alpha": [0.0, 1.0, 2.0],
    "beta": [0.0, 1.0, 2.0],
}


@pytest.fixture(scope="module")
def chinchilla() -> pd.DataFrame:
    raw = pd.read_csv(CSV)
    frame = pd.DataFrame({"n_params": raw["Model Size"], "loss": raw["loss"]})
    frame["data_size"] = raw["Training FLOP"] / (6 * raw["Model Size"])
    return frame.sort_values("loss").iloc[:-5]


@pytest.mark.parametrize("starts", [None, COARSE_EPOCH_GRID], ids=["auto-grid", "epoch-grid"])
def test_epoch_refit_is_reproduced(chinchilla: pd.DataFrame, starts: dict | None) -> None:
    fit = laws.fit(chinchilla, "loss", ["N", "D"], form="additive", bootstrap=0, starts=starts)
    assert fit.status == "converged"
    assert fit.n_points == 240
    for name, (value, stderr) in EPOCH.items():
        assert abs(fit.params[name] - value) <= stderr, (name, fit.params[name])


def test_bootstrap_stderr_matches_epoch(chinchilla: pd.DataFrame) -> None:
    """A small bootstrap already gives SEs of Epoch's size (theirs: .03, .02, .02)."""
    fit = laws.fit(chinchilla, "loss", ["N", "D"], bootstrap=30, seed=0)
    assert fit.n_bootstrap >= 28
    assert 0.01 < fit.stderr["E"] < 0.06
    assert 0.005 < fit.stderr["alpha"] < 0.04
    assert 0.005 < fit.stderr["beta"] < 0.04
    assert np.all(np.isfinite(list(fit.stderr.values())))
