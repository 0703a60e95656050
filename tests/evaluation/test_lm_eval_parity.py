"""Our multiple-choice scores equal lm-evaluation-harness's (HFLM on the same model instance):
per-choice log-likelihoods, and acc / acc_norm / stderrs of a local JSON task run end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from miub.evaluation import evaluate_multiple_choice

lm_eval = pytest.importorskip("lm_eval")

TASK_YAML = """\
task: miub_tiny_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture
def harness_model(tiny_model, tiny_tokenizer):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=tiny_model, tokenizer=tiny_tokenizer, batch_size=7, device="cpu")


def test_per_choice_logliks_equal_lm_eval(
    harness_model, tiny_model, tiny_tokenizer, examples
) -> None:
    from lm_eval.api.instance import Instance

    requests = [
        Instance("loglikelihood", doc=e, arguments=(e["context"], " " + c), idx=k)
        for e in examples
        for k, c in enumerate(e["choices"])
    ]
    theirs = [ll for ll, _ in harness_model.loglikelihood(requests, disable_tqdm=True)]
    ours = evaluate_multiple_choice(tiny_model, tiny_tokenizer, examples, 5, return_logliks=True)
    np.testing.assert_allclose(np.concatenate(ours["logliks"]), theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_local_json_task_metrics_equal_lm_eval(
    harness_model, tiny_model, tiny_tokenizer, examples, tmp_path: Path
) -> None:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(e) + "\n" for e in examples))
    (tmp_path / "miub_tiny_mc.yaml").write_text(TASK_YAML.format(data=data))
    output = simple_evaluate(
        model=harness_model,
        tasks=["miub_tiny_mc"],
        task_manager=TaskManager(include_path=str(tmp_path), include_defaults=False),
        num_fewshot=0,
    )
    assert output is not None
    theirs = output["results"]["miub_tiny_mc"]
    assert output["n-samples"]["miub_tiny_mc"]["effective"] == len(examples)
    ours = evaluate_multiple_choice(tiny_model, tiny_tokenizer, examples)
    for metric in ("acc", "acc_norm"):
        assert ours[metric] == pytest.approx(theirs[f"{metric},none"], abs=1e-12)
        assert ours[f"{metric}_stderr"] == pytest.approx(theirs[f"{metric}_stderr,none"], abs=1e-12)
