"""What MIUB logging adds to one evaluation point of ``miub train`` (issue 12).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eval_pass.py [--hidden-size 256] [--rounds 6]

The evaluation ``miub train`` runs at the end of a run (``run_eval_pass``: ACC on 200
validation questions, CE from the same forwards) on a random 4-layer Llama with a LoRA adapter
(``miub train``'s defaults: its rank on all seven projections, 28 modules), once without and once
with the default estimator (``js-mi``, k = 64, measured on the gold sequences), alternating in
one process, ``--rounds`` times each. ``lora_B`` is drawn small and non-zero, as after
training. This isolates the evaluation share of ``train_throughput.py``'s
``ratio_on_vs_off``, whose separate training runs carry most of its noise.

Prints JSON: seconds per pass (min and median over rounds) without / with MIUB, the added
seconds (``added_s``, min-based) and ``ratio`` = without ÷ with (min-based).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from miub.models import load_model_and_tokenizer
from miub.tasks import get as get_task
from miub.training import EvalConfig, TrainConfig
from miub.training.eval_pass import run_eval_pass
from miub.training.loop import attach_lora
from train_throughput import make_model_dir  # this folder: the script's own sys.path[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--task", default="novel")
    parser.add_argument("--examples", type=int, default=200, help="miub train's eval_examples")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as scratch:
        model_dir = make_model_dir(Path(scratch), args.task, args.hidden_size)
        model, tokenizer = load_model_and_tokenizer(model_dir, device="cpu")
        config = TrainConfig(model=model_dir, task=args.task)
    peft_model = attach_lora(model, config)  # miub train's own adapter (B = 0, set below)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.02)
    examples = get_task(args.task).validation(args.examples)
    conditions = {"without": EvalConfig(estimators=[]), "with": EvalConfig()}
    seconds: dict[str, list[float]] = {name: [] for name in conditions}
    run_eval_pass(peft_model, tokenizer, examples, None, conditions["with"])  # warm-up
    for _ in range(args.rounds):
        for name, eval_config in conditions.items():
            start = time.perf_counter()
            run_eval_pass(peft_model, tokenizer, examples, None, eval_config)
            seconds[name].append(time.perf_counter() - start)
    fastest = {name: min(values) for name, values in seconds.items()}
    report = {
        "model": f"random llama d={args.hidden_size} L=4, LoRA r={config.rank} on "
        f"{len(config.target_modules)} projections",
        "task": args.task,
        "examples": args.examples,
        "rounds": args.rounds,
        "torch_threads": torch.get_num_threads(),
        "min_s": fastest,
        "median_s": {name: statistics.median(values) for name, values in seconds.items()},
        "added_s": fastest["with"] - fastest["without"],
        "ratio": fastest["without"] / fastest["with"],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
