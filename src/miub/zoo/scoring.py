"""Zero-shot multiple-choice accuracy, used only to calibrate and report the zoo at build time.

This is a calibration aid, not the project's evaluator (see ``miub.evaluation``): each choice
is scored lm-eval style by the summed log-likelihood of the tokens of ``" " + choice`` given
``context``, tokenizing ``context`` and ``context + " " + choice`` and taking the extra tokens
as the continuation; accuracy is the fraction where the label scores highest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@torch.no_grad()
def multiple_choice_accuracy(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[dict[str, Any]],
    batch_size: int = 64,
) -> float:
    """Fraction of examples whose label has the highest summed log-likelihood."""
    model.eval()
    requests: list[tuple[int, list[int], int]] = []  # (example index, tokens, n continuation)
    for index, example in enumerate(examples):
        context_ids = tokenizer(example["context"], add_special_tokens=False)["input_ids"]
        for choice in example["choices"]:
            full = tokenizer(example["context"] + " " + choice, add_special_tokens=False)
            ids = full["input_ids"]
            requests.append((index, ids, len(ids) - len(context_ids)))
    scores = torch.empty(len(requests))
    for start in range(0, len(requests), batch_size):
        chunk = requests[start : start + batch_size]
        width = max(len(ids) for _, ids, _ in chunk)
        input_ids = torch.zeros(len(chunk), width, dtype=torch.long)
        for row, (_, ids, _) in enumerate(chunk):
            input_ids[row, : len(ids)] = torch.tensor(ids)
        logprobs = model(input_ids=input_ids).logits.float().log_softmax(-1)  # (B, T, V)
        for row, (_, ids, n_cont) in enumerate(chunk):
            positions = torch.arange(len(ids) - n_cont, len(ids))
            targets = input_ids[row, positions]
            scores[start + row] = logprobs[row, positions - 1, targets].sum()
    correct, offset = 0, 0
    for example in examples:
        n = len(example["choices"])
        correct += int(scores[offset : offset + n].argmax().item() == example["label"])
        offset += n
    return correct / max(len(examples), 1)
