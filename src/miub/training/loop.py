"""``run_training``: one LoRA fine-tuning run, read top to bottom.

load model → attach LoRA → AdamW with linear warm-up and decay over the answer-only loss
(:mod:`miub.training.data`) → evaluate every ``eval.interval_steps`` steps and at the end
(:mod:`miub.training.eval_pass`) → save adapter, logs and ``result.json``
(:mod:`miub.training.results`).

Deterministic for a fixed config on CPU: Python, NumPy and torch are seeded from
``config.seed`` before LoRA initialisation, and the data order comes from a seeded
``torch.Generator``.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, get_peft_model
from torch.utils.data import DataLoader

from miub.models import count_parameters, load_model_and_tokenizer
from miub.training.config import TrainConfig
from miub.training.data import (
    EncodedExample,
    MultipleChoiceTask,
    PadCollator,
    encode_training_set,
    evaluation_examples,
    get_task,
)
from miub.training.eval_pass import EvalPass, run_eval_pass
from miub.training.progress import TrainingProgress
from miub.training.results import build_result, write_result
from miub.training.run_log import RunLog

LOSS_LOG_INTERVAL = 10  # steps between train-loss log lines (one host sync each)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and all CUDA devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def linear_schedule(step: int, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier for optimizer step ``step`` (0-based) of ``total_steps``.

    ``(step + 1) / (warmup + 1)`` while ``step < warmup`` (never exactly 0), then
    ``(total - step) / (total - warmup)``, which is ``1 / (total - warmup)`` at the last step.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def attach_lora(model: torch.nn.Module, config: TrainConfig) -> Any:
    """Wrap ``model`` with a fresh LoRA adapter (``A`` Kaiming-uniform, ``B = 0``)."""
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.resolved_alpha(),  # type: ignore[arg-type]  # peft accepts floats
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        use_rslora=config.use_rslora,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def run_training(
    config: TrainConfig,
    out_dir: Path | None,
    *,
    progress: bool = True,
    task: MultipleChoiceTask | None = None,
) -> dict[str, Any]:
    """Fine-tune ``config.model`` with LoRA on ``config.task`` and evaluate it.

    Args:
        config: the run (see :class:`~miub.training.config.TrainConfig`).
        out_dir: where ``result.json``, ``metrics.csv``, ``tensorboard/`` and ``adapter/``
            go; None writes nothing (the result is still returned).
        progress: show a rich progress bar.
        task: use this task object instead of ``miub.tasks.get(config.task, ...)``.

    Returns:
        The ``result.json`` content: config, run_key, flat final ``metrics``, ``miub``
        breakdown, ``history`` of evaluations, parameter and token counts, versions, timings.
    """
    previous_threads = torch.get_num_threads()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    try:
        return _run_training(config, out_dir, progress=progress, task=task)
    finally:
        torch.set_num_threads(previous_threads)


def _run_training(
    config: TrainConfig,
    out_dir: Path | None,
    *,
    progress: bool,
    task: MultipleChoiceTask | None,
) -> dict[str, Any]:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    task = task if task is not None else get_task(config.task, config.task_options)
    seed_everything(config.seed)
    model, tokenizer = load_model_and_tokenizer(
        config.model, dtype=config.dtype, device=config.device, device_map=config.device_map
    )
    n_params = count_parameters(model)
    train_examples = task.train(config.data_size, seed=config.seed)
    split = config.eval.split
    eval_examples = evaluation_examples(task, split, config.eval.eval_examples)
    ce_examples = (
        None
        if config.eval.ce_examples == config.eval.eval_examples
        else evaluation_examples(task, split, config.eval.ce_examples)
    )
    dataset = encode_training_set(tokenizer, train_examples, config.max_length)
    timings["load_s"] = time.perf_counter() - started

    seed_everything(config.seed)
    peft_model = attach_lora(model, config)
    if config.gradient_checkpointing:
        peft_model.gradient_checkpointing_enable()
        peft_model.enable_input_require_grads()
    device = next(peft_model.parameters()).device
    loader: DataLoader[EncodedExample] = DataLoader(
        dataset,  # type: ignore[arg-type]
        batch_size=config.batch_size,
        shuffle=True,
        collate_fn=PadCollator(int(tokenizer.pad_token_id or 0)),
        generator=torch.Generator().manual_seed(config.seed),
    )
    total_steps = config.max_steps or max(1, math.ceil(config.epochs * len(loader)))
    warmup_steps = int(config.warmup_ratio * total_steps)
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trainable, lr=config.learning_rate, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: linear_schedule(step, warmup_steps, total_steps)
    )

    history: list[dict[str, Any]] = []
    last_eval: EvalPass | None = None
    eval_seconds = 0.0
    tokens_seen = 0
    step = 0
    loss_sum = torch.zeros((), device=device)
    loss_count = 0
    train_started = time.perf_counter()
    if config.eval.at_start:  # step 0: B = 0, so these are the base model's (zero-shot) scores
        zero_shot = run_eval_pass(peft_model, tokenizer, eval_examples, ce_examples, config.eval)
        eval_seconds += zero_shot.seconds
        history.append({"step": 0, "epoch": 0.0, **zero_shot.metrics})
    peft_model.train()
    with RunLog(out_dir) as run_log, TrainingProgress(total_steps, enabled=progress) as bar:
        if history:
            run_log.log(0, 0.0, {f"eval/{k}": v for k, v in history[0].items() if k != "step"})
        while step < total_steps:
            for batch in loader:
                tokens_seen += int(batch["attention_mask"].sum())  # on the CPU copy: no sync
                batch = {key: value.to(device) for key, value in batch.items()}
                loss = peft_model(**batch).loss
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                loss_sum += loss.detach()
                loss_count += 1
                epoch = step / len(loader)
                if step % LOSS_LOG_INTERVAL == 0 or step == total_steps:
                    mean_loss = float(loss_sum) / loss_count
                    run_log.log(
                        step,
                        epoch,
                        {"train/loss": mean_loss, "train/lr": float(scheduler.get_last_lr()[0])},
                    )
                    bar.update(step, loss=mean_loss)
                    loss_sum.zero_()
                    loss_count = 0
                interval = config.eval.interval_steps
                if step == total_steps or (interval > 0 and step % interval == 0):
                    bar.note("evaluating")
                    last_eval = run_eval_pass(
                        peft_model, tokenizer, eval_examples, ce_examples, config.eval
                    )
                    eval_seconds += last_eval.seconds
                    history.append({"step": step, "epoch": epoch, **last_eval.metrics})
                    run_log.log(step, epoch, {f"eval/{k}": v for k, v in last_eval.metrics.items()})
                    bar.update(step, acc=last_eval.metrics["acc"])
                if step >= total_steps:
                    break
                bar.update(step)
    timings["train_s"] = time.perf_counter() - train_started - eval_seconds
    timings["eval_s"] = eval_seconds
    assert last_eval is not None  # the final step always evaluates

    if out_dir is not None:
        peft_model.save_pretrained(str(out_dir / "adapter"), safe_serialization=True)
        tokenizer.save_pretrained(str(out_dir / "adapter"))
    timings["total_s"] = time.perf_counter() - started
    timings["train_tokens_per_s"] = tokens_seen / timings["train_s"] if timings["train_s"] else 0.0
    result = build_result(
        config,
        final=last_eval,
        history=history,
        n_params=n_params,
        n_trainable=sum(p.numel() for p in trainable),
        dataset=dataset,
        tokens_seen=tokens_seen,
        total_steps=total_steps,
        timings=timings,
        device=str(device),
    )
    if out_dir is not None:
        write_result(result, out_dir)
    return result
