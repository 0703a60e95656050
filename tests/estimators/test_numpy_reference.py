"""js-mi and mi end to end against an independent NumPy/SciPy reference: value, stderr,
corrected, null, ceiling, normalized (and its stderr), the plain extras and every jackknife
replicate (docs/method.md §3.1, §3.2, §3.6, §3.7), over uneven batches, repeated, wrapped
and missing sequence groups, with and without ``sequence_ids``.

The reference follows the written definitions, not the code: per-token distributions
``softmax(zscore(x) / tau)``; ``P = mean p q^T`` (null: ``q`` of the token's pairing partner,
ceiling: ``p``); MI and JSD by scipy's ``entropy`` on the flattened tables; the delete-a-group
jackknife by recomputing every statistic without each non-empty group. Only the seeded pairing
permutation (the documented rule of :class:`~miub.estimators.references.PairingNull`) is taken
from the package, since it is a choice of random numbers and not a computation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy

from miub.estimators import make_estimator
from miub.estimators.references import pairing_permutation

TAU, N_GROUPS, SEED = 0.5, 16, 3


def _distributions(x: np.ndarray) -> np.ndarray:
    z = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True) / TAU
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)  # (T, k)


def _partners(lora_batches: list[np.ndarray]) -> list[np.ndarray]:
    """The null's LoRA partner rows of each batch: batch b >= 1 takes the previous batch's
    rows in a seeded shuffle (step b) cycled to its length; batch 0 takes the last batch's
    rows with the shuffle of step B (itself if it is the only batch)."""
    n_batches, out = len(lora_batches), []
    for b in range(n_batches):
        source = lora_batches[b - 1] if b else lora_batches[-1]
        step = b if b else n_batches
        order = pairing_permutation(len(source), SEED, step, torch.device("cpu")).numpy()
        n = len(lora_batches[b])
        out.append(source[np.tile(order, n // len(source) + 1)[:n]])
    return out


def _mi_js(joint: np.ndarray) -> tuple[float, float]:
    joint = joint / joint.sum()
    product = np.outer(joint.sum(1), joint.sum(0))
    mixture = 0.5 * (joint + product)
    mi = scipy_entropy(joint.ravel(), product.ravel())
    js = 0.5 * scipy_entropy(joint.ravel(), mixture.ravel())
    js += 0.5 * scipy_entropy(product.ravel(), mixture.ravel())
    return float(mi), float(js)


def _statistics(p: np.ndarray, q: np.ndarray, r: np.ndarray) -> dict[str, float]:
    """Every reported statistic on the tokens with distributions p, q and null partners r."""
    stats: dict[str, float] = {}
    for label, right in (("", q), ("_null", r), ("_ceiling", p)):
        mi, js = _mi_js(p.T @ right)
        stats["mi" + label], stats["js_mi" + label] = mi, js
    for stat in ("mi", "js_mi"):
        v, null, ceil = stats[stat], stats[f"{stat}_null"], stats[f"{stat}_ceiling"]
        stats[f"{stat}_normalized"] = (v - null) / (ceil - null)
    info = [scipy_entropy(x.mean(0)) - scipy_entropy(x, axis=1).mean() for x in (p, q)]
    stats["base_token_mi"], stats["lora_token_mi"] = info
    stats["dpi"] = min(info)
    return stats


def _reference(base: list[np.ndarray], lora: list[np.ndarray], ids: list[np.ndarray | None]):
    p = np.concatenate([_distributions(x) for x in base])
    q_batches = [_distributions(x) for x in lora]
    q, r = np.concatenate(q_batches), np.concatenate(_partners(q_batches))
    n_tokens = len(p)
    if ids[0] is None:
        groups = np.arange(n_tokens) % N_GROUPS
    else:
        groups = np.concatenate([i for i in ids if i is not None]) % N_GROUPS
    full = _statistics(p, q, r)
    kept = [g for g in range(N_GROUPS) if (groups == g).any()]
    leave_out = {g: _statistics(*(x[groups != g] for x in (p, q, r))) for g in kept}
    summary = {}
    for key, value in full.items():
        reps = np.array([leave_out[g][key] for g in kept])
        n_kept = len(kept)
        summary[key] = {
            "value": value,
            "stderr": math.sqrt((n_kept - 1) / n_kept * ((reps - reps.mean()) ** 2).sum()),
            "corrected": n_kept * value - (n_kept - 1) * reps.mean(),
            "replicates": [leave_out[g][key] if g in leave_out else math.nan for g in range(16)],
        }
    return summary


def _batches(with_ids: bool, seed: int):
    """Uneven batches (sizes 37, 5, 64, 20) of k = 6 features, dependent branches; sequence
    ids with repeated, wrapped (id mod 16) and empty (5) groups."""
    rng = np.random.default_rng(seed)
    sizes, base, lora, ids = [37, 5, 64, 20], [], [], []
    next_id = 0
    for size in sizes:
        x = rng.normal(size=(size, 6)).astype(np.float32)
        y = (0.6 * x @ rng.normal(size=(6, 6)) + rng.normal(size=(size, 6))).astype(np.float32)
        lengths = rng.integers(1, 9, size=size)
        seq = np.repeat(np.arange(next_id, next_id + size), lengths)[:size]
        next_id = int(seq[-1]) + 1 + (5 if next_id == 0 else 0)
        base.append(x)
        lora.append(y)
        seq = np.where(seq >= 10, seq + 19, seq)  # ids wrap around mod 16
        seq = np.where(seq % N_GROUPS == 5, seq + 1, seq)  # group 5 stays empty
        ids.append(seq.astype(np.int64) if with_ids else None)
    return base, lora, ids


@pytest.mark.parametrize("name", ["js-mi", "mi"])
@pytest.mark.parametrize("with_ids", [True, False])
def test_every_number_matches_the_numpy_reference(name: str, with_ids: bool) -> None:
    base, lora, ids = _batches(with_ids, seed=11 if with_ids else 12)
    estimator = make_estimator(
        name, feature_map="identity", tau=TAU, seed=SEED, hold_tokens=1
    )  # every batch at once, as the reference pairs the null
    for x, y, i in zip(base, lora, ids, strict=True):
        estimator.update(
            torch.from_numpy(x), torch.from_numpy(y), None if i is None else torch.from_numpy(i)
        )
    result = estimator.result()
    expected = _reference(
        [x.astype(np.float64) for x in base], [y.astype(np.float64) for y in lora], ids
    )
    primary = name.replace("-", "_")
    main = expected[primary]

    def close(got: float, want: float) -> bool:
        # the estimator does its per-token arithmetic in float32 (sums in float64): agreement
        # to ~1e-8 relative; a formula error is orders of magnitude larger
        return got == pytest.approx(want, rel=1e-6, abs=1e-10) or (
            math.isnan(got) and math.isnan(want)
        )

    assert close(result.value, main["value"])
    assert close(result.stderr, main["stderr"])
    assert all(map(close, result.replicates["value"], main["replicates"]))
    extras = result.extras
    assert close(extras["corrected"], main["corrected"])
    for point in ("null", "ceiling", "normalized"):
        assert close(extras[point], expected[f"{primary}_{point}"]["value"]), point
    normalized = expected[f"{primary}_normalized"]
    assert close(extras["normalized_stderr"], normalized["stderr"])
    assert all(map(close, result.replicates["normalized"], normalized["replicates"]))
    for key in ("js_mi", "mi", "dpi", "base_token_mi", "lora_token_mi"):
        if key == primary:
            continue
        assert close(extras[key], expected[key]["value"]), key
        assert close(extras[f"{key}_stderr"], expected[key]["stderr"]), key
        assert all(map(close, result.replicates[key], expected[key]["replicates"])), key
    assert result.n_tokens == sum(len(x) for x in base)
    filled = [not math.isnan(v) for v in result.replicates["value"]]
    assert sum(filled) >= 10 and filled[5] != with_ids  # empty group 5 only with ids
