"""laws.fit recovers known parameters from noisy synthetic data; statuses and errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from miub import laws
from miub.errors import MiubUserError


def _one_axis(noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rank = np.repeat([1, 2, 4, 8, 16, 32, 64, 128], 3).astype(float)
    y = (0.3 + 2.0 * rank**-0.7) * np.exp(rng.normal(0.0, noise, rank.size))
    return pd.DataFrame({"rank": rank, "loss": y})


def _two_axes(form: str, noise: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    grid_n, grid_d = np.meshgrid(np.geomspace(1e6, 1e9, 6), np.geomspace(1e3, 1e6, 6))
    n, d = np.repeat(grid_n.ravel(), 2), np.repeat(grid_d.ravel(), 2)
    if form == "additive":
        y = 1.5 + 400.0 * n**-0.35 + 60.0 * d**-0.4
    else:
        y = 1.5 + 3000.0 * n**-0.3 * d**-0.25
    y = y * np.exp(rng.normal(0.0, noise, y.size))
    return pd.DataFrame({"n_params": n, "data_size": d, "loss": y})


def test_one_axis_recovers_parameters() -> None:
    fit = laws.fit(_one_axis(), "loss", ["R"], bootstrap=0)
    assert fit.status == "converged"
    assert fit.params["E"] == pytest.approx(0.3, rel=0.05)
    assert fit.params["A"] == pytest.approx(2.0, rel=0.05)
    assert fit.params["alpha"] == pytest.approx(0.7, rel=0.05)
    assert fit.n_points == 24
    assert np.max(np.abs(fit.residuals)) < 0.05


def test_joint_additive_recovers_parameters() -> None:
    fit = laws.fit(_two_axes("additive"), "loss", ["N", "D"], form="additive", bootstrap=0)
    assert fit.status == "converged"
    assert fit.params["E"] == pytest.approx(1.5, rel=0.03)
    assert fit.params["alpha"] == pytest.approx(0.35, rel=0.1)
    assert fit.params["beta"] == pytest.approx(0.4, rel=0.1)
    assert set(fit.params) == {"E", "A", "alpha", "B", "beta"}


def test_joint_multiplicative_recovers_parameters() -> None:
    frame = _two_axes("multiplicative")
    fit = laws.fit(frame, "loss", ["N", "D"], form="multiplicative", bootstrap=0)
    assert fit.status == "converged"
    assert fit.params["E"] == pytest.approx(1.5, rel=0.03)
    assert fit.params["alpha"] == pytest.approx(0.3, rel=0.1)
    assert fit.params["beta"] == pytest.approx(0.25, rel=0.1)
    assert set(fit.params) == {"E", "A", "alpha", "beta"}


def test_power_and_loglinear_are_exact_without_noise() -> None:
    x = np.array([1.0, 2, 4, 8, 16])
    frame = pd.DataFrame({"rank": x, "power": 3.0 * x**-0.5, "linear": 2.0 - 0.25 * np.log(x)})
    power = laws.fit(frame, "power", ["R"], form="power", bootstrap=0)
    assert power.params["A"] == pytest.approx(3.0, rel=1e-6)
    assert power.params["alpha"] == pytest.approx(0.5, rel=1e-6)
    linear = laws.fit(frame, "linear", ["R"], form="loglinear", bootstrap=0)
    assert linear.params == pytest.approx({"a": 2.0, "b": -0.25}, rel=1e-9)
    np.testing.assert_allclose(linear.predict(frame), frame["linear"], rtol=1e-9)


def test_bootstrap_ci_covers_truth_and_is_seeded() -> None:
    frame = _one_axis(noise=0.02)
    first = laws.fit(frame, "loss", ["R"], bootstrap=200, seed=3)
    again = laws.fit(frame, "loss", ["R"], bootstrap=200, seed=3)
    assert first.n_bootstrap >= 190
    assert first.ci == again.ci
    for name, truth in {"E": 0.3, "A": 2.0, "alpha": 0.7}.items():
        low, high = first.ci[name]
        assert low < first.params[name] < high
        assert low < truth < high
        assert first.stderr[name] > 0
    band_low, band_high = first.predict_band(frame)
    assert np.all(band_low <= band_high)


def test_too_few_points_fits_what_can_be_fit() -> None:
    frame = pd.DataFrame({"rank": [4.0, 4, 8, 8], "loss": [1.0, 1.1, 0.8, 0.85]})
    saturating = laws.fit(frame, "loss", ["R"], bootstrap=0)
    assert saturating.status == "too_few_points"
    assert "3-parameter" in saturating.message
    assert np.isnan(saturating.params["E"])
    assert laws.fit(frame, "loss", ["R"], form="power", bootstrap=0).status == "converged"
    single = laws.fit(frame[frame["rank"] == 4], "loss", ["R"], form="power", bootstrap=0)
    assert single.status == "too_few_points"


def test_non_positive_values_name_the_column() -> None:
    frame = pd.DataFrame({"rank": [1.0, 2, 4, 8], "cosine": [0.1, -0.2, 0.3, 0.1]})
    with pytest.raises(MiubUserError, match="'cosine'"):
        laws.fit(frame, "cosine", ["R"], bootstrap=0)
    assert laws.fit(frame, "cosine", ["R"], form="loglinear", bootstrap=0).ok
    frame["rank"] = [0.0, 2, 4, 8]
    with pytest.raises(MiubUserError, match="'rank'"):
        laws.fit(frame, "cosine", ["R"], form="loglinear", bootstrap=0)
    with pytest.raises(MiubUserError, match="'data_size'"):
        laws.fit(frame, "cosine", ["D"], bootstrap=0)


def test_extrapolation_error_is_small_on_the_true_law() -> None:
    frame = _one_axis(noise=0.005)
    error = laws.extrapolation_error(frame, "loss", "R", "additive")
    assert 0 <= error < 0.02
    sparse = frame[frame["rank"].isin([1, 2, 4])]
    assert np.isnan(laws.extrapolation_error(sparse, "loss", "R", "additive"))


def test_to_dict_is_json_ready() -> None:
    fit = laws.fit(_one_axis(), "loss", ["R"], bootstrap=20)
    payload = json.loads(json.dumps(fit.to_dict(), allow_nan=False))
    assert payload["status"] == "converged"
    assert payload["columns"] == ["rank"]
    assert len(payload["residuals"]) == 24
    assert payload["ci"]["alpha"][0] <= payload["params"]["alpha"] <= payload["ci"]["alpha"][1]


def test_no_bootstrap_on_a_boundary_of_the_parameter_space() -> None:
    """A rising metric drives E + A·X^−α to α = 0 (E and A then trade off one-for-one) and a
    pure power law drives E to 0: no percentile CI at a boundary (Andrews 2000). An interior
    optimum (the decaying law with a floor) is still bootstrapped."""
    rank = np.repeat([1.0, 4, 16, 64], 5)
    rng = np.random.default_rng(0)
    rising = pd.DataFrame(
        {"rank": rank, "loss": (1 + 0.1 * np.log(rank)) * np.exp(rng.normal(0, 0.01, 20))}
    )
    flat = laws.fit(rising, "loss", ["R"], bootstrap=50)
    assert flat.ok and flat.params["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert (
        flat.n_bootstrap == 0
        and flat.ci == {}
        and "no bootstrap: alpha at its bound" in flat.message
    )
    # a decline that steepens in log-log (no floor can produce it): the optimum is E = 0
    steepening = 2 * rank**-0.3 * np.exp(-0.05 * np.log(rank) ** 2)
    power = pd.DataFrame({"rank": rank, "loss": steepening * np.exp(rng.normal(0, 0.01, 20))})
    pure = laws.fit(power, "loss", ["R"], bootstrap=50)
    assert pure.ok and pure.params["E"] < 1e-6 * power["loss"].min()
    assert pure.n_bootstrap == 0 and "E at its bound 0" in pure.message
    assert np.all(np.isnan(pure.predict_band(power)[0]))
    interior = laws.fit(_one_axis(), "loss", ["R"], bootstrap=50)
    assert interior.n_bootstrap >= 45 and set(interior.ci) == {"E", "A", "alpha"}
