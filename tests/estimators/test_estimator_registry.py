"""Registry and one-shot API: names, errors, shapes, masks, dtypes, the StreamingEstimator contract."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import miub
from miub.estimators import DEFAULT_ESTIMATOR, estimate, list_estimators, make_estimator
from miub.interface import EstimateResult, StreamingEstimator

EXPECTED = {"js-mi", "mi", "dpi", "token-jsd", "miub-token", "norm-ratio", "cosine", "linear-cka"}


def test_every_estimator_is_listed_with_formula_orientation_and_units() -> None:
    specs = list_estimators()
    assert {s.name for s in specs} == EXPECTED
    assert specs[0].name == DEFAULT_ESTIMATOR == "js-mi"
    for spec in specs:
        assert spec.formula and spec.units
        assert spec.orientation in {"lower_is_better", "higher_is_better", "none"}
        assert spec.name in str(spec)
        assert spec.to_dict()["name"] == spec.name
        estimator = make_estimator(spec.name)
        assert isinstance(estimator, StreamingEstimator)
        assert estimator.name == spec.name
    assert [s.name for s in miub.list_estimators()] == [s.name for s in specs]


def test_unknown_names_and_parameters_raise_with_choices() -> None:
    with pytest.raises(ValueError, match="choose one of js-mi"):
        make_estimator("jsmi")
    with pytest.raises(ValueError, match="valid: k, tau"):
        make_estimator("js-mi", top_k=3)
    with pytest.raises(ValueError, match="tau must be > 0"):
        make_estimator("js-mi", tau=0.0)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_estimate_batched_with_mask_equals_flat_real_tokens(name: str) -> None:
    base = torch.randn(3, 20, 16, dtype=torch.bfloat16)
    lora = 0.3 * base + 0.1 * torch.randn(3, 20, 16, dtype=torch.bfloat16)
    mask = torch.ones(3, 20, dtype=torch.long)
    mask[1, 15:] = 0
    mask[2, :4] = 0
    keep = mask.bool()
    spec = next(s for s in list_estimators() if s.name == name)
    params: dict[str, Any] = {"k": 8} if "k" in spec.defaults else {}
    flat = estimate(name, base.float()[keep], lora.float()[keep], **params)  # (N, d) float32
    result = miub.estimate(name, base, lora, mask=mask, **params)  # (B, T, d) bf16 + mask
    assert isinstance(result, EstimateResult)
    assert result.n_tokens == int(keep.sum())
    assert result.value == pytest.approx(flat.value, rel=1e-6)
    assert result.stderr == pytest.approx(flat.stderr, rel=1e-6)
    assert result.to_dict()["name"] == name


def test_estimate_rejects_bad_input() -> None:
    x = torch.randn(4, 8)
    with pytest.raises(ValueError, match="differ in shape"):
        estimate("js-mi", x, torch.randn(4, 9))
    with pytest.raises(ValueError, match="mask shape"):
        estimate("js-mi", x, x, mask=torch.ones(5, dtype=torch.bool))
    with pytest.raises(ValueError, match="floating-point"):
        estimate("js-mi", x.long(), x.long())
    with pytest.raises(ValueError, match="no real tokens"):
        estimate("js-mi", x, x, mask=torch.zeros(4, dtype=torch.bool))
    assert estimate("js-mi", x, x, mask=torch.ones(4)).n_tokens == 4


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_update_never_reads_tensor_values(name: str) -> None:
    """update runs inside forward hooks and must not synchronise (.item(), .tolist(), float()):
    on the meta device, which has no data, any such read raises."""
    spec = next(s for s in list_estimators() if s.name == name)
    estimator = make_estimator(name, **({"k": 8} if "k" in spec.defaults else {}))
    for n_tokens in (20, 7, 9):
        base = torch.randn(n_tokens, 16, device="meta")
        ids = torch.zeros(n_tokens, dtype=torch.int64, device="meta") if n_tokens != 7 else None
        estimator.update(base, torch.randn(n_tokens, 16, device="meta"), sequence_ids=ids)


def test_column_spelling_names_the_same_estimator() -> None:
    from miub.estimators.registry import get_spec

    assert get_spec("js_mi") is get_spec("js-mi")
    assert get_spec("miub_token").name == "miub-token"
    with pytest.raises(ValueError, match="unknown estimator"):
        get_spec("js__mi")


def test_registry_and_metrics_import_without_torch() -> None:
    """``miub fit`` / ``report`` read the metric registry only: it must not import torch."""
    import subprocess
    import sys

    code = "import sys, miub.metrics, miub.estimators.registry; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_reference_points_match_the_estimators_keys() -> None:
    from miub.estimators.references import REFERENCE_KEYS
    from miub.estimators.registry import REFERENCE_POINTS

    assert tuple(REFERENCE_POINTS) == REFERENCE_KEYS
