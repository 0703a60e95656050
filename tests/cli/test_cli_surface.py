"""The smaller things users hit (issue 13, item 6, and the checks behind the bad-input matrix
that are not errors): --version, the task and failed-run listings, one spelling per
estimator, measure's LM CE named apart from train's answer CE (and equal to a direct
computation), k > d clamped, piped output not cut to 80 columns, a description edit needing
no --allow-changed, --repair from the command line, --overwrite, the zoo's build dir, and
the OS errors a user causes."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml
from cli_helpers import TEXTS, run_cli
from sweep_helpers import SYNTHETIC, read_csv, runner_failing_on_rank_2, study_data, write_study
from transformers import AutoModelForCausalLM, AutoTokenizer

from miub.errors import MiubUserError, user_os_error


def test_version_is_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["--version"]) == 0
    assert capsys.readouterr().out == f"miub {metadata.version('miub')}\n"


def test_tasks_lists_every_registered_task(capsys: pytest.CaptureFixture[str]) -> None:
    from miub.tasks.registry import names

    assert run_cli(["tasks"]) == 0
    assert capsys.readouterr().out.split() == list(names())


def test_runs_failed_lists_each_failed_run_with_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from miub.sweeps import load_study, run_sweep

    study = load_study(write_study(tmp_path / "study.yaml"))
    run_sweep(study, tmp_path / "out", run_function=runner_failing_on_rank_2, check=False)
    capsys.readouterr()
    assert run_cli(["runs", str(tmp_path / "out"), "--failed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "8 failed runs"  # rank 2 of 2 models x 2 data sizes x 2 seeds
    assert len(lines) == 9 and all("rank 2 is cursed" in line for line in lines[:-1])


def test_each_estimator_has_one_spelling_with_either_separator() -> None:
    from miub.estimators import list_estimators
    from miub.sweeps.study import canonical_estimator, parse_study, study_hash

    for spec in list_estimators():
        for typed in (spec.name, spec.name.replace("-", "_"), spec.name.upper()):
            assert canonical_estimator(typed) == spec.name
    assert canonical_estimator("no-such") == "no-such"  # left for the check to name
    underscored = parse_study(study_data(estimators=["js_mi", "token_jsd"]))
    assert underscored.estimators == ["js-mi", "token-jsd"]
    assert study_hash(underscored) == study_hash(
        parse_study(study_data(estimators=["js-mi", "token-jsd"]))
    )
    from miub.cli.train import build_config

    config = build_config({"model": "m", "task": "recall", "eval": {"estimators": ["js_mi"]}})
    assert config.eval.estimators == ["js-mi"]
    config = build_config(
        {"model": "m", "task": "recall"}, assignments=["eval.estimators=[mi, js_mi]"]
    )
    assert config.eval.estimators == ["mi", "js-mi"]


def _direct_lm_ce(model_dir: Path) -> float:
    """All-token cross-entropy of the texts, each scored alone and unpadded with plain
    transformers: -sum log p(x_t | x_<t) over t >= 1, divided by the number of such tokens.
    (The test adapter's B is zero, so the adapter model equals its base.)"""
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    total, count = 0.0, 0
    with torch.no_grad():
        for text in TEXTS:
            ids = torch.tensor([tokenizer(text)["input_ids"]])  # (1, T)
            logp = torch.log_softmax(model(ids).logits[0, :-1].double(), dim=-1)  # (T-1, V)
            total -= float(logp.gather(1, ids[0, 1:, None]).sum())
            count += ids.shape[1] - 1
    return total / count


def test_measure_names_its_all_token_ce_apart_and_accepts_both_spellings(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "m.json"
    argv = ["measure", "--model", str(world["model_s"]), "--adapter", str(world["adapter"]),
            "--data", str(world["data"]), "-e", "js_mi", "--feature-map", "topk",
            "--k", "500", "--json", str(out)]  # fmt: skip
    assert run_cli(argv) == 0
    printed = capsys.readouterr().out
    assert "LM CE, all tokens" in printed and "LM PPL" in printed
    record = json.loads(out.read_text())
    assert record["miub"]["estimators"] == ["js-mi"]  # js_mi read as js-mi
    # k = 500 > d = 16: clamped to d (docs/method.md §3.5), and the k used is recorded
    assert record["miub"]["params"]["js-mi"]["k"] == 16
    assert record["miub"]["params"]["js-mi"]["feature_map"] == "topk"
    assert record["lm_ce"] == pytest.approx(_direct_lm_ce(world["model_s"]), rel=1e-5)
    assert record["lm_ppl"] == pytest.approx(math.exp(record["lm_ce"]), rel=1e-9)
    from miub.metrics import get_metric

    assert "answer" in get_metric("ce").description  # train's ce: another quantity


def test_piped_output_is_not_cut_to_80_columns(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    command = [sys.executable, "-c", "from miub.cli.main import main; main()", "estimators"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) > 80


def test_editing_only_the_description_needs_no_allow_changed(
    world: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    shutil.copytree(world["sweep"], out)
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(study_data(description="now with a note")))
    before = read_csv(out / "results.csv", drop=())
    assert run_cli(["sweep", str(study), "--out", str(out), "--run-function", SYNTHETIC]) == 0
    assert "0 done, 0 failed, 24 already finished" in capsys.readouterr().err
    assert read_csv(out / "results.csv", drop=()) == before


def test_repair_from_the_command_line_recovers_every_run(
    world: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    shutil.copytree(world["store_tail-garbage"], out)
    before = read_csv(out / "results.csv", drop=())
    argv = ["sweep", str(world["study"]), "--out", str(out), "--run-function", SYNTHETIC]
    assert run_cli([*argv, "--repair"]) == 0
    assert read_csv(out / "results.csv", drop=()) == before
    assert list(out.glob("runs.sqlite.damaged-*"))  # the damaged store is kept aside
    assert run_cli(["runs", str(out)]) == 0  # a sound store again


def test_train_out_is_replaced_only_with_overwrite(tmp_path: Path) -> None:
    from miub.cli.train import prepare_run_dir

    (tmp_path / "tensorboard").mkdir()
    (tmp_path / "tensorboard" / "events.old").write_text("x")
    (tmp_path / "result.json").write_text("{}")
    with pytest.raises(MiubUserError, match="--overwrite"):
        prepare_run_dir(tmp_path, overwrite=False)
    assert (tmp_path / "result.json").exists()
    prepare_run_dir(tmp_path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no old events to mix with


def test_zoo_build_defaults_to_a_user_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import miub
    from miub.cli.zoo import default_build_dir

    monkeypatch.delenv("MIUB_ZOO_BUILD_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_build_dir() == tmp_path / "miub" / "zoo"
    package = Path(miub.__file__).resolve().parent
    assert package not in default_build_dir().resolve().parents


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only"), (errno.EACCES, "permission"),
     (errno.EISDIR, "is a directory"), (errno.EDQUOT, "quota")],
)  # fmt: skip
def test_os_errors_a_user_causes_are_one_line(code: int, reason: str) -> None:
    line = user_os_error(OSError(code, os.strerror(code), "/data/out.json"))
    assert line is not None and reason in line and "/data/out.json" in line
    assert "\n" not in line


def test_other_os_errors_stay_bugs() -> None:
    assert user_os_error(OSError(errno.EIO, "I/O error")) is None
    assert user_os_error(ValueError("not an OS error")) is None
