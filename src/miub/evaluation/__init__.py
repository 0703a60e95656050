"""External metrics: multiple-choice ACC (lm-evaluation-harness scoring), CE and PPL."""

from miub.evaluation.encoding import encode_pair
from miub.evaluation.language_modeling import evaluate_language_modeling
from miub.evaluation.multiple_choice import GOLD_MASK, evaluate_multiple_choice, mean_stderr
from miub.evaluation.partial import evaluate_partial_multiple_choice

__all__ = [
    "GOLD_MASK",
    "encode_pair",
    "evaluate_language_modeling",
    "evaluate_multiple_choice",
    "evaluate_partial_multiple_choice",
    "mean_stderr",
]
