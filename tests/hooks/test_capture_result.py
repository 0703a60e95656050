"""Aggregation per layer / module type / model, and a JSON-able result."""

from __future__ import annotations

import json
import math

import pytest
import torch

import miub
from miub.estimators import DEFAULT_ESTIMATOR
from miub.hooks.result import mean_over_modules
from miub.interface import EstimateResult


def test_mean_over_modules_uses_independence_stderr():
    estimates = [
        EstimateResult(
            "x", value=1.0, stderr=0.3, n_tokens=5, extras={"mi": 2.0, "mi_stderr": 0.1}
        ),
        EstimateResult(
            "x", value=3.0, stderr=0.4, n_tokens=5, extras={"mi": 4.0, "mi_stderr": 0.2}
        ),
    ]
    mean = mean_over_modules(estimates)
    assert mean.value == pytest.approx(2.0)
    assert mean.stderr == pytest.approx(0.5 / 2)
    assert mean.extras["mi"] == pytest.approx(3.0)
    assert mean.extras["mi_stderr"] == pytest.approx(math.sqrt(0.05) / 2)
    assert mean.n_modules == 2


def test_result_aggregates_and_serialises(make_model, make_batch, recorders):
    model = make_model("llama")
    _, factory = recorders
    with torch.no_grad(), miub.capture(model, estimators=[factory]) as cap:
        model(**make_batch([8, 5]))
        model(**make_batch([3], seed=1))
    res = cap.result()

    values = {name: module.estimates["recorder"].value for name, module in res.modules.items()}
    assert res.overall["recorder"].value == pytest.approx(sum(values.values()) / len(values))
    assert res.overall["recorder"].n_modules == 14
    layer0 = [v for name, v in values.items() if ".layers.0." in name]
    assert res.by_layer[0]["recorder"].value == pytest.approx(sum(layer0) / len(layer0))
    ffn = [v for name, v in values.items() if ".mlp." in name]
    assert res.by_module_type["ffn"]["recorder"].value == pytest.approx(sum(ffn) / len(ffn))
    assert res.by_module_type["attention"]["recorder"].n_modules == 8
    assert res.params == {"recorder": {"kind": "recorder"}}
    assert res.n_tokens == 16

    payload = json.loads(json.dumps(res.to_dict()))
    assert payload["overall"]["recorder"]["value"] == pytest.approx(res.overall["recorder"].value)
    assert set(payload["by_layer"]) == {"0", "1"}
    assert payload["eval_hash"] == res.eval_hash
    module = payload["modules"]["model.layers.1.mlp.down_proj"]
    assert module["layer"] == 1 and module["module_type"] == "ffn" and module["n_updates"] == 2
    assert module["estimates"]["recorder"]["n_tokens"] == 16


def test_named_estimators_from_registry(make_model, make_batch):
    model = make_model("phi3")
    with torch.no_grad(), miub.capture(model, estimators=["js-mi", "token-jsd"], k=16) as cap:
        model(**make_batch([10, 6]))
    res = cap.result()
    assert res.estimators == ["js-mi", "token-jsd"]
    assert res.params["js-mi"]["k"] == 16
    assert all(math.isfinite(value.value) for value in res.overall.values())
    json.dumps(res.to_dict())

    with torch.no_grad(), miub.capture(model) as default_cap:
        model(**make_batch([4]))
    assert default_cap.result().estimators == [DEFAULT_ESTIMATOR]


def test_registry_estimators_aggregate_by_jackknife_and_flatten_by_registry(make_model, make_batch):
    from miub.training.eval_pass import flatten_capture

    model = make_model("llama")
    with torch.no_grad(), miub.capture(model, estimators=["js-mi", "norm-ratio"], k=16) as cap:
        for seed in range(4):
            model(**make_batch([12, 9, 11, 7], seed=seed))
    res = cap.result()
    assert {value.stderr_method for value in res.overall.values()} == {"jackknife"}
    flat = flatten_capture(res.overall)
    expected = {
        "js_mi", "js_mi_stderr", "js_mi_null", "js_mi_ceiling", "js_mi_corrected",
        "js_mi_normalized", "js_mi_normalized_stderr", "norm_ratio", "norm_ratio_stderr",
    }  # fmt: skip
    assert expected <= set(flat)
    assert all(math.isfinite(flat[name]) for name in expected)
