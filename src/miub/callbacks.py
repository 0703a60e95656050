"""``MIUBCallback``: MIUB for your own Hugging Face ``Trainer`` / TRL ``SFTTrainer`` runs.

    callback = MIUBCallback(examples, tokenizer, estimators=["js-mi"])   # on every evaluate
    trainer = Trainer(model=peft_model, args=args, train_dataset=..., eval_dataset=...)
    callback.attach(trainer)   # = trainer.add_callback(callback) + a handle to trainer.log
    trainer.train()

At each trigger (every ``trainer.evaluate()``, or every ``eval_steps`` optimizer steps when
given) the callback runs one capture pass (:func:`miub.capture`) over its data with
the model in eval mode and logs ``miub/js_mi``, ``miub/js_mi_stderr``,
``miub/js_mi_normalized``, ... (the registered metric columns,
:func:`miub.training.eval_pass.flatten_capture`) through ``trainer.log``: the values land in
``trainer.state.log_history`` and reach every reporter (W&B, TensorBoard, MLflow, ...) through
their ``on_log``. The Trainer API gives callbacks no handle on the Trainer, so the callback
needs :meth:`MIUBCallback.attach` (or ``trainer=``) to reach the reporters — the same pattern
transformers uses for its own JIT-checkpoint callback. Without it the values still go to
``state.log_history`` and to the metrics dict ``trainer.evaluate()`` returns, with a warning.

Data: multiple-choice examples (``context/choices/label``; ACC and answer CE are logged too,
from the same forwards), plain strings (CE / PPL too), or a tokenised dataset with an
``input_ids`` column (MIUB only).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from miub.errors import MiubUserError
from miub.evaluation import evaluate_language_modeling, evaluate_multiple_choice
from miub.evaluation.scoring import model_device
from miub.training.eval_pass import flatten_capture


class MIUBCallback(TrainerCallback):
    """Log MIUB estimators (and ACC/CE where the data allows) from inside a ``Trainer``.

    Args:
        eval_data: multiple-choice examples, texts, or a tokenised dataset (``input_ids``).
        tokenizer: needed for examples and texts (default: the Trainer's processing class).
        estimators: estimator names (``miub.list_estimators()``), default ``["js-mi"]``.
        eval_steps: measure every N optimizer steps; None = whenever the Trainer evaluates.
        batch_size: sequences per forward.
        max_examples: use at most this many items of ``eval_data``.
        prefix: prepended to every logged name (``"miub/"`` → ``miub/js_mi``).
        trainer: the Trainer to log through (or call :meth:`attach`).
        **estimator_params: k, tau, feature_map, seed, ... (see :func:`miub.capture`).
    """

    def __init__(
        self,
        eval_data: Sequence[Any] | Any,
        tokenizer: Any = None,
        *,
        estimators: Sequence[str] = ("js-mi",),
        eval_steps: int | None = None,
        batch_size: int = 16,
        max_examples: int | None = 200,
        prefix: str = "miub/",
        trainer: Any = None,
        **estimator_params: Any,
    ) -> None:
        if eval_steps is not None and eval_steps < 1:
            raise MiubUserError(f"eval_steps must be a positive integer or None, got {eval_steps}")
        if not estimators:
            raise MiubUserError("MIUBCallback needs at least one estimator")
        self.eval_data = eval_data
        self.tokenizer = tokenizer
        self.estimators = list(estimators)
        self.eval_steps = eval_steps
        self.batch_size = batch_size
        self.max_examples = max_examples
        self.prefix = prefix
        self.trainer = trainer
        self.estimator_params = estimator_params
        self.last_metrics_: dict[str, float] = {}
        self._warned = False

    def attach(self, trainer: Any) -> MIUBCallback:
        """Register on ``trainer`` and log through ``trainer.log``; returns ``self``."""
        self.trainer = trainer
        trainer.add_callback(self)
        return self

    # --- Trainer events -------------------------------------------------------------------
    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.eval_steps is not None and state.global_step % self.eval_steps == 0:
            self._measure_and_log(state, kwargs)

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.eval_steps is None:
            metrics = self._measure_and_log(state, kwargs)
            if isinstance(kwargs.get("metrics"), dict):
                kwargs["metrics"].update(metrics)  # returned by trainer.evaluate()

    # --- measuring ------------------------------------------------------------------------
    def measure(self, model: torch.nn.Module, tokenizer: Any = None) -> dict[str, float]:
        """One capture pass over the data; flat, prefixed metrics (model left as it was)."""
        from miub.hooks import capture

        tokenizer = tokenizer if tokenizer is not None else self.tokenizer
        data = self._items()
        was_training = model.training
        model.eval()
        try:
            with capture(model, estimators=self.estimators, **self.estimator_params) as active:
                external = self._run_forwards(model, tokenizer, data, active)
                captured = active.result()
        finally:
            model.train(was_training)
        metrics = {**external, **flatten_capture(captured.overall)}
        return {f"{self.prefix}{name}": float(value) for name, value in metrics.items()}

    def _items(self) -> Sequence[Any]:
        data = self.eval_data
        if self.max_examples is not None and len(data) > self.max_examples:
            data = (
                data.select(range(self.max_examples))
                if hasattr(data, "select")
                else data[: self.max_examples]
            )
        if len(data) == 0:
            raise MiubUserError("MIUBCallback has no evaluation data")
        return data  # type: ignore[no-any-return]

    def _run_forwards(
        self, model: torch.nn.Module, tokenizer: Any, data: Sequence[Any], active: Any
    ) -> dict[str, float]:
        first = data[0]
        if isinstance(first, Mapping) and "choices" in first:
            self._require(tokenizer)
            scores = evaluate_multiple_choice(
                model, tokenizer, data, self.batch_size, capture=active
            )
            keys = ("acc", "acc_stderr", "acc_norm", "acc_norm_stderr", "ce", "ppl")
            return {key: scores[key] for key in keys}
        if isinstance(first, str):
            self._require(tokenizer)
            language = evaluate_language_modeling(
                model, tokenizer, list(data), self.batch_size, capture=active
            )
            return {"ce": language["ce"], "ppl": language["ppl"]}
        if isinstance(first, Mapping) and "input_ids" in first:
            pad = int(getattr(tokenizer, "pad_token_id", None) or 0)
            self._forward_tokenized(model, data, pad)
            return {}
        raise MiubUserError(
            "MIUBCallback data must be multiple-choice examples, strings, or rows with input_ids"
        )

    @torch.no_grad()
    def _forward_tokenized(self, model: torch.nn.Module, data: Sequence[Any], pad: int) -> None:
        device = model_device(model)
        for start in range(0, len(data), self.batch_size):
            rows = [data[i] for i in range(start, min(start + self.batch_size, len(data)))]
            width = max(len(row["input_ids"]) for row in rows)
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
            attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
            for index, row in enumerate(rows):
                ids = torch.as_tensor(row["input_ids"], dtype=torch.long)
                input_ids[index, : len(ids)] = ids
                mask = row.get("attention_mask")
                attention_mask[index, : len(ids)] = 1 if mask is None else torch.as_tensor(mask)
            model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device))

    @staticmethod
    def _require(tokenizer: Any) -> None:
        if tokenizer is None:
            raise MiubUserError("MIUBCallback needs a tokenizer for text or multiple-choice data")

    def _measure_and_log(self, state: TrainerState, kwargs: dict[str, Any]) -> dict[str, float]:
        model = kwargs.get("model")
        if model is None:
            raise MiubUserError("MIUBCallback got no model from the Trainer")
        metrics = self.measure(model, self.tokenizer or kwargs.get("processing_class"))
        self.last_metrics_ = metrics
        if self.trainer is not None:
            self.trainer.log(dict(metrics))  # log_history + every reporter's on_log
        else:
            if not self._warned:
                warnings.warn(
                    "MIUBCallback is not attached to a Trainer (use callback.attach(trainer)); "
                    "MIUB goes to state.log_history only, not to W&B/TensorBoard/MLflow",
                    stacklevel=2,
                )
                self._warned = True
            state.log_history.append({**metrics, "step": state.global_step})
        return metrics
