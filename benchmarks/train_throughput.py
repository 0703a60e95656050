"""Training throughput of ``run_training`` versus a plain peft + torch loop (issue 3).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_throughput.py [--model zoo:NAME|DIR]

Both train the same model (default: a random Llama, d=256 (--hidden-size), 4 layers, in a temp dir)
with the same LoRA config, data (task ``novel``, ``miub train``'s defaults: D=256, batch 16;
3 epochs), optimiser, schedule and data order, so step ``i`` sees the same batch in both.
Step times are the intervals between consecutive optimizer steps, read by a global optimizer
post-step hook (the same instrument for both loops; step 0, the warm-up, is dropped), in wall
and in process CPU seconds. Each step's time is its minimum over ``--repeats`` interleaved
runs. On a shared machine the CPU clock is the meaningful one (wall time there mostly
measures the other processes); on a quiet machine both agree.

Prints JSON, for each clock (``cpu``, ``wall``):

* ``ratio_miub_off``: plain time ÷ ``run_training`` time with no estimators (its progress
  bar, logs and bookkeeping included) = the tokens/s ratio. Target ≥ 0.95.
* ``ratio_miub_on``: the same with the default estimators at the default evaluation
  interval (0 = at the end), charging the evaluation time MIUB adds (evaluation time with
  estimators − without, min over repeats) to the run. Target ≥ 0.90.
* ``ratio_end_to_end_on``: also charging the ACC/CE evaluation the plain loop does not do.
* ``ratio_on_vs_off``: ``miub train`` with MIUB logging ÷ without, both ``run_training``:
  (train time without estimators + evaluation without) ÷ (train time with + evaluation
  with) = the tokens/s ratio of the whole run. Target ≥ 0.95 (issue 12) at d = 256 and 512.

Default run: d = 256, task ``novel``, D = 256, 3 epochs, 2 repeats (about 1.5 minutes on one
thread); ``--hidden-size 512`` for the second target. The MIUB share depends on the ratio of
evaluation to training work: ``miub train``'s defaults evaluate 200 examples once, at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model
from torch.optim.optimizer import register_optimizer_step_post_hook
from torch.utils.data import DataLoader

from miub.models import load_model_and_tokenizer
from miub.tasks import get as get_task
from miub.testing.tiny_models import build_llama, build_tokenizer
from miub.training import EvalConfig, TrainConfig, run_training
from miub.training import loop as training_loop
from miub.training.loop import linear_schedule


def make_model_dir(directory: Path, task_name: str, hidden_size: int) -> str:
    """A random Llama (4 layers) with a BPE tokenizer trained on the task's text."""
    task = get_task(task_name)
    texts = [e["context"] + " " + " ".join(e["choices"]) for e in task.train(512, seed=0)]
    tokenizer = build_tokenizer(texts, vocab_size=2000)
    model = build_llama(tokenizer, hidden_size=hidden_size, num_layers=4, num_heads=8)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def plain_loop(config: TrainConfig) -> None:
    """The baseline: the textbook peft + torch loop, nothing else."""
    torch.manual_seed(config.seed)
    model, tokenizer = load_model_and_tokenizer(config.model, device=config.device)
    examples = get_task(config.task).train(config.data_size, seed=config.seed)
    rows = []
    for example in examples:
        context = example["context"]
        ids = tokenizer(context + " " + example["choices"][example["label"]]).input_ids
        n_context = len(tokenizer(context).input_ids)
        rows.append((ids, [-100] * n_context + ids[n_context:]))

    def collate(batch: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(ids) for ids, _ in batch)
        pad = tokenizer.pad_token_id
        return {
            "input_ids": torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch]),
            "attention_mask": torch.tensor(
                [[1] * len(i) + [0] * (width - len(i)) for i, _ in batch]
            ),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch]),
        }

    torch.manual_seed(config.seed)
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.resolved_alpha(),  # type: ignore[arg-type]  # peft accepts floats
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules),
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lora)
    loader: DataLoader[tuple[list[int], list[int]]] = DataLoader(
        rows,  # type: ignore[arg-type]
        batch_size=config.batch_size,
        shuffle=True,
        collate_fn=collate,
        generator=torch.Generator().manual_seed(config.seed),
    )
    total = max(1, math.ceil(config.epochs * len(loader)))
    warmup = int(config.warmup_ratio * total)
    optimizer = torch.optim.AdamW(
        [p for p in peft_model.parameters() if p.requires_grad], lr=config.learning_rate
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: linear_schedule(s, warmup, total)
    )
    peft_model.train()
    step = 0
    while step < total:
        for batch in loader:
            peft_model(**batch).loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step >= total:
                break


Clock = tuple[float, float]  # (wall seconds, process CPU seconds)


def now() -> Clock:
    return time.perf_counter(), time.process_time()


class StepClock:
    """Wall and CPU time between consecutive optimizer steps (global post-step hook), and of
    each evaluation pass of ``run_training`` (its ``run_eval_pass``, wrapped)."""

    def __enter__(self) -> StepClock:
        self.stamps: list[Clock] = []
        self.evals: list[Clock] = []
        self._handle = register_optimizer_step_post_hook(lambda *_: self.stamps.append(now()))
        self._original = training_loop.run_eval_pass

        def timed_eval(*args: Any, **kwargs: Any) -> Any:
            start = now()
            output = self._original(*args, **kwargs)
            end = now()
            self.evals.append((end[0] - start[0], end[1] - start[1]))
            return output

        training_loop.run_eval_pass = timed_eval  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()
        training_loop.run_eval_pass = self._original  # type: ignore[assignment]

    def steps(self) -> list[Clock]:
        """Per step after the first: (wall, CPU) seconds, evaluations excluded."""
        return [(b[0] - a[0], b[1] - a[1]) for a, b in pairwise(self.stamps)]

    def eval_total(self) -> Clock:
        return sum(e[0] for e in self.evals), sum(e[1] for e in self.evals)


def timed(function: Any, config: TrainConfig) -> tuple[list[Clock], Clock]:
    with StepClock() as clock:
        function(config)
    return clock.steps(), clock.eval_total()


def run_miub(config: TrainConfig) -> None:
    run_training(config, None, progress=True)


def fastest(runs: list[list[Clock]], which: int) -> float:
    """Sum over steps of each step's minimum over repeats (seconds of clock ``which``)."""
    return sum(min(clocks[which] for clocks in step) for step in zip(*runs, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="zoo:NAME or dir (default: random d=256)")
    parser.add_argument("--hidden-size", type=int, default=256, help="of the random model")
    parser.add_argument("--task", default="novel")
    parser.add_argument("--data-size", type=int, default=256)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or make_model_dir(Path(scratch), args.task, args.hidden_size)
        base: dict[str, Any] = {
            "model": model,
            "task": args.task,
            "data_size": args.data_size,
            "epochs": args.epochs,
            "device": "cpu",
        }
        off = TrainConfig(**base, eval=EvalConfig(estimators=[]))
        on = TrainConfig(**base)  # default estimators and interval
        runs: dict[str, list[list[Clock]]] = {"plain": [], "off": [], "on": []}
        evals: dict[str, list[Clock]] = {"off": [], "on": []}
        for _ in range(args.repeats):
            runs["plain"].append(timed(plain_loop, off)[0])
            for name, config in (("off", off), ("on", on)):
                steps, evaluation = timed(run_miub, config)
                runs[name].append(steps)
                evals[name].append(evaluation)

    report: dict[str, Any] = {
        "model": args.model or f"random llama d={args.hidden_size} L=4",
        "task": args.task,
        "data_size": args.data_size,
        "epochs": args.epochs,
        "steps_timed": len(runs["plain"][0]),
        "torch_threads": torch.get_num_threads(),
        "repeats": args.repeats,
    }
    for which, clock in ((1, "cpu"), (0, "wall")):
        plain, off_s, on_s = (fastest(runs[name], which) for name in ("plain", "off", "on"))
        eval_off = min(e[which] for e in evals["off"])
        eval_on = min(e[which] for e in evals["on"])
        miub_eval = max(0.0, eval_on - eval_off)
        report[clock] = {
            "plain_train_s": plain,
            "miub_off_train_s": off_s,
            "miub_on_train_s": on_s,
            "eval_s_without_miub": eval_off,
            "eval_s_with_miub": eval_on,
            "ratio_miub_off": plain / off_s,
            "ratio_miub_on": plain / (on_s + miub_eval),
            "ratio_end_to_end_on": plain / (on_s + eval_on),
            "ratio_on_vs_off": (off_s + eval_off) / (on_s + eval_on),
        }
    report["targets"] = {"ratio_miub_off": 0.95, "ratio_miub_on": 0.90, "ratio_on_vs_off": 0.95}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
