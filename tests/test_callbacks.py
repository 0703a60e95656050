"""MIUBCallback inside a real transformers.Trainer on a tiny LoRA Llama."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments

from miub.callbacks import MIUBCallback
from miub.errors import MiubUserError
from miub.testing.tiny_models import build_llama, build_tokenizer

WORDS = ["red", "green", "blue", "gold", "Arvo", "Belka", "Corin", "Dulse"]
EXAMPLES: list[dict[str, Any]] = [
    {"context": f"{name} likes", "choices": WORDS[:4], "label": index % 4}
    for index, name in enumerate(WORDS[4:] * 2)
]


@pytest.fixture
def lora_setup() -> tuple[Any, Any, list[dict[str, Any]]]:
    tokenizer = build_tokenizer([f"{n} likes {c}" for n in WORDS for c in WORDS], vocab_size=280)
    model = build_llama(tokenizer, hidden_size=32, num_layers=2, num_heads=4)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "up_proj"])
    )
    rows = []
    for example in EXAMPLES:
        ids = tokenizer(example["context"] + " " + example["choices"][example["label"]]).input_ids
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
    return peft_model, tokenizer, rows


def make_trainer(
    peft_model: Any, tokenizer: Any, rows: list[dict[str, Any]], out: Path, **extra: Any
) -> Trainer:
    settings: dict[str, Any] = {
        "output_dir": str(out),
        "per_device_train_batch_size": 4,
        "max_steps": 6,
        "learning_rate": 1e-2,
        "logging_steps": 3,
        "eval_strategy": "steps",
        "eval_steps": 3,
        "save_strategy": "no",
        "report_to": ["tensorboard"],
        "use_cpu": True,
        "disable_tqdm": True,
    }
    args = TrainingArguments(**{**settings, **extra})
    collator = DataCollatorForLanguageModeling(tokenizer, mlm=False)  # pads; labels = inputs
    return Trainer(
        model=peft_model,
        args=args,
        data_collator=collator,
        train_dataset=rows,
        eval_dataset=rows,
    )


def test_metrics_reach_log_history_and_tensorboard(lora_setup, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    peft_model, tokenizer, rows = lora_setup
    trainer = make_trainer(peft_model, tokenizer, rows, tmp_path)
    callback = MIUBCallback(EXAMPLES, tokenizer, estimators=["js-mi", "norm-ratio"]).attach(trainer)
    trainer.train()

    logged = [entry for entry in trainer.state.log_history if "miub/js_mi" in entry]
    assert [entry["step"] for entry in logged] == [3, 6]  # once per Trainer evaluation
    for entry in logged:
        assert 0.0 <= entry["miub/js_mi"] <= 0.6932
        assert {"miub/js_mi_stderr", "miub/mi", "miub/norm_ratio", "miub/acc"} <= set(entry)
    assert callback.last_metrics_["miub/js_mi"] == logged[-1]["miub/js_mi"]

    (event_file,) = tmp_path.glob("runs/*/events.out.tfevents.*")  # Trainer's default dir
    events = EventAccumulator(str(event_file.parent))
    events.Reload()
    tags = [tag for tag in events.Tags()["scalars"] if tag.endswith("miub/js_mi")]
    assert tags, events.Tags()["scalars"]
    assert [event.step for event in events.Scalars(tags[0])] == [3, 6]


def test_every_n_steps_with_tokenized_data_and_evaluate_return(lora_setup, tmp_path: Path) -> None:
    peft_model, tokenizer, rows = lora_setup
    trainer = make_trainer(peft_model, tokenizer, rows, tmp_path, eval_strategy="no")
    MIUBCallback(rows, tokenizer, eval_steps=2, max_examples=5).attach(trainer)
    trainer.train()
    steps = [entry["step"] for entry in trainer.state.log_history if "miub/js_mi" in entry]
    assert steps == [2, 4, 6]
    assert peft_model.training  # measured in eval mode, handed back in training mode

    # Not attached: values still land in log_history and in evaluate()'s return value.
    plain = make_trainer(peft_model, tokenizer, rows, tmp_path / "plain", report_to="none")
    plain.add_callback(MIUBCallback(EXAMPLES, tokenizer))
    with pytest.warns(UserWarning, match="attach"):
        metrics = plain.evaluate()
    assert "miub/js_mi" in metrics
    assert any("miub/js_mi" in entry for entry in plain.state.log_history)


def test_bad_arguments_are_user_errors(lora_setup) -> None:
    peft_model, _tokenizer, _rows = lora_setup
    with pytest.raises(MiubUserError, match="eval_steps"):
        MIUBCallback(EXAMPLES, eval_steps=0)
    with pytest.raises(MiubUserError, match="tokenizer"):
        MIUBCallback(EXAMPLES).measure(peft_model)
    with torch.no_grad():
        assert MIUBCallback([{"input_ids": [1, 5, 6]}]).measure(peft_model)["miub/js_mi"] >= 0
