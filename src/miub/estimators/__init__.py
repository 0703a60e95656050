"""MIUB estimators: pure tensor math (torch, numpy, math and ``miub.interface`` only).

Every estimator is streaming (state independent of the number of tokens), takes the two branch
outputs of one LoRA module as float32 ``(T, d)`` tensors in ``update``, and returns an
:class:`~miub.interface.EstimateResult` in nats (baselines: unitless) with a standard error.
See docs/method.md §3 and :mod:`miub.estimators.registry` for the list.
"""

from miub.estimators.registry import (
    DEFAULT_ESTIMATOR,
    EstimatorSpec,
    estimate,
    get_spec,
    list_estimators,
    make_estimator,
)

__all__ = [
    "DEFAULT_ESTIMATOR",
    "EstimatorSpec",
    "estimate",
    "get_spec",
    "list_estimators",
    "make_estimator",
]
