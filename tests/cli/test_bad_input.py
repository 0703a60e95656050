"""Bad input and faults (issue 13): every user error is one line on stderr, exit code 2, no
traceback; it is found before any work (the command writes nothing: its fresh tmp dir stays
empty); and an existing study dir's ``runs.sqlite`` / ``results.csv`` stay byte-identical.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/cli/test_bad_input.py``.
Each case calls the real entry point :func:`miub.cli.main.main` in-process; an exception
escaping it (a traceback) fails the case. The world (models, adapters, data, sweep dirs,
damaged stores) is built once, in ``conftest.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from cli_helpers import STORE_DAMAGE, run_cli
from sweep_helpers import SYNTHETIC

M, D, A, S = "--model", "--data", "--adapter", "--study"
Argv = Callable[[dict[str, Path], Path], list[str]]
Case = tuple[str, Argv, tuple[str, ...], str]


def case(name: str, argv: Argv, *expected: str, study: str = "sweep") -> Case:
    """A bad-input case: its id, its argv from (world paths, a fresh empty tmp dir), the
    texts its one error line must hold, and the study dir that must stay byte-identical."""
    return name, argv, expected, study


def _digest(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in ("runs.sqlite", "results.csv")
        if (folder / name).exists()
    }


def _first_run(p: dict[str, Path]) -> Path:
    return p["sweep"] / "runs" / sorted(x.name for x in (p["sweep"] / "runs").iterdir())[0]


def _measure(p: dict[str, Path], *extra: str, model: str = "model_s") -> list[str]:
    return ["measure", M, str(p[model]), A, str(p["adapter"]), D, str(p["data"]), *extra]


def _train(p: dict[str, Path], t: Path, *extra: str) -> list[str]:
    return ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), *extra]


STORE_COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "sweep": lambda study, out: ["sweep", str(study), "--out", str(out), "--run-function", SYNTHETIC],
    "sweep-dry-run": lambda study, out: ["sweep", str(study), "--out", str(out), "--dry-run"],
    "fit": lambda study, out: ["fit", str(out)],
    "report": lambda study, out: ["report", str(out)],
    "runs": lambda study, out: ["runs", str(out)],
}  # fmt: skip
"""Every command that reads a study's store."""


def _store_case(command: str, damage: str, *expected: str) -> Case:
    argv = STORE_COMMANDS[command]
    return case(
        f"{command}-store-{damage}",
        lambda p, t: argv(p["study"], p[f"store_{damage}"]),
        *expected,
        study=f"store_{damage}",
    )


CASES: list[Case] = [
    # the issue's table, row by row (and the bullets "data loss or silent overwrite")
    case("measure-adapter-wrong-base", lambda p, t: ["measure", M, str(p["model_m"]), A, str(p["adapter"]), D, str(p["data"])], "layer"),
    case("measure-adapter-no-weights", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter_no_weights"]), D, str(p["data"])], "adapter_model.safetensors is missing"),
    case("measure-adapter-truncated", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter_truncated"]), D, str(p["data"])], "re-save the adapter"),
    case("measure-adapter-bad-json", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter_bad_json"]), D, str(p["data"])], "re-save the adapter"),
    case("measure-data-png", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["png"])], "byte offset"),
    case("measure-data-latin1", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["latin1"])], "byte offset"),
    case("measure-data-bad-line", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["badline"])], ":2:"),
    case("measure-k-huge", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--k", "100000"], "--k"),
    case("measure-json-dir", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--json", str(t)], "--json"),
    case("measure-json-missing-dir", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--json", str(t / "no" / "x.json")], "does not exist"),
    case("measure-tau-nan", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--tau", "nan"], "--tau"),
    case("measure-tau-inf", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--tau", "inf"], "--tau"),
    case("measure-tau-zero", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--tau", "0"], "--tau"),
    case("measure-max-length-0", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--max-length", "0"], "--max-length"),
    case("measure-max-length-neg", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--max-length", "-5"], "--max-length"),
    case("measure-max-length-past-context", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--max-length", "4096"], "context"),
    case("measure-batch-0", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--batch-size", "0"], "--batch-size"),
    case("measure-threads-0", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--threads", "0"], "--threads"),
    # ... and further cases: each a user error seen while auditing the issue
    case("measure-feature-map", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "--feature-map", "nope"], "--feature-map"),
    case("measure-estimator", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"]), "-e", "nope"], "--estimator"),
    case("measure-model-png", lambda p, t: ["measure", M, str(p["png"]), D, str(p["data"])], "png"),
    case("zoo-build-threads-0", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--threads", "0"], "--threads"),
    case("zoo-build-steps-neg", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--steps", "-1"], "--steps"),
    case("zoo-build-batch-0", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--batch-size", "0"], "--batch-size"),
    case("zoo-build-seq-0", lambda p, t: ["zoo", "build", "--out", str(t / "z"), "--seq-len", "0"], "--seq-len"),
    case("zoo-build-out-file", lambda p, t: ["zoo", "build", "--out", str(p["file"]), "--steps", "1"], "--out"),
    case("train-out-file", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(p["file"])], "--out"),
    case("train-epochs-inf", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--epochs", "inf"], "--epochs"),
    case("train-lr-inf", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--lr", "inf"], "--lr"),
    case("train-lr-huge", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--lr", "1e30"], "--lr"),
    case("train-alpha-nan", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--alpha", "nan"], "--alpha"),
    case("train-rank-0", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--rank", "0"], "--rank"),
    case("train-bad-override", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "eval.kk=3"], "eval.kk"),
    case("train-override-no-equals", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "rank"], "key.path=value"),
    case("train-config-png", lambda p, t: ["train", "--config", str(p["png"]), "--out", str(t / "r")], "--config"),
    case("train-dtype", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(t / "r"), "--dtype", "float64"], "--dtype"),
    case("sweep-study-png", lambda p, t: ["sweep", str(p["png"]), "--out", str(t / "s")], "UTF-8"),
    case("sweep-device-cuda", lambda p, t: ["sweep", str(p["study_cuda"]), "--out", str(t / "s")], "device"),
    case("sweep-dtype-f64", lambda p, t: ["sweep", str(p["study_f64"]), "--out", str(t / "s")], "dtype"),
    case("sweep-hub-id-offline", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s")], "not in the local Hugging Face cache"),
    case("sweep-out-file", lambda p, t: ["sweep", str(p["study"]), "--out", str(p["file"]), "--run-function", SYNTHETIC], "not a writable directory"),
    case("sweep-set-bad-key", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--set", "training.epochz=2"], "did you mean epochs"),
    case("sweep-set-bad-value", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--set", "training.learning_rate=nan"], "learning_rate"),
    case("sweep-set-lr-huge", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--set", "training.learning_rate=1e30"], "learning_rate"),
    case("sweep-changed-study", lambda p, t: ["sweep", str(p["study"]), "--out", str(p["sweep"]), "--run-function", SYNTHETIC, "--set", "grid.ranks=[1]"], "--allow-changed"),
    case("sweep-workers-0", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--workers", "0"], "--workers"),
    case("train-existing-run", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(_first_run(p))], "--overwrite"),
    case("runs-not-a-sweep", lambda p, t: ["runs", str(t)], "runs.sqlite"),
    case("unknown-option", lambda p, t: ["measure", "--nope"], "--nope"),
    case("measure-feature-map-identity-too-wide", lambda p, t: ["measure", M, str(p["model_wide"]), A, str(p["adapter_wide"]), D, str(p["data"]), "--feature-map", "identity"], "--feature-map identity", "up_proj has d = 1100"),
    case("measure-no-adapter", lambda p, t: ["measure", M, str(p["model_s"]), D, str(p["data"])], "--adapter"),
    case("measure-model-empty", lambda p, t: ["measure", M, "", A, str(p["adapter"]), D, str(p["data"])], "--model", "empty"),
    case("measure-data-empty", lambda p, t: ["measure", M, str(p["model_s"]), A, str(p["adapter"]), D, ""], "--data", "empty path"),
    case("measure-adapter-empty", lambda p, t: ["measure", M, str(p["model_s"]), A, "", D, str(p["data"])], "--adapter", "empty path"),
    case("measure-json-empty", lambda p, t: _measure(p, "--json", ""), "--json", "empty path"),
    case("measure-json-read-only", lambda p, t: _measure(p, "--json", str(p["read_only"] / "m.json")), "--json", "cannot", study="read_only"),
    case("measure-estimator-twice", lambda p, t: _measure(p, "-e", "js-mi", "-e", "js_mi"), "unique"),
    case("demo-out-empty", lambda p, t: ["demo", "--out", ""], "--out", "empty path"),
    case("demo-quick-out-empty", lambda p, t: ["demo", "--quick", "--out", " "], "--out", "empty path"),
    case("train-out-empty", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", ""], "--out", "empty path"),
    case("train-out-read-only", lambda p, t: ["train", M, str(p["model_s"]), "--task", "recall", "--out", str(p["read_only"] / "r")], "--out", "cannot", study="read_only"),
    case("train-config-empty", lambda p, t: ["train", "--config", "", "--out", str(t / "r")], "--config", "empty path"),
    case("train-estimator-unknown", lambda p, t: _train(p, t, "--estimator", "jsmi"), "--estimator"),
    case("zoo-build-out-empty", lambda p, t: ["zoo", "build", "--out", "", "--steps", "1"], "--out", "empty path"),
    case("zoo-build-out-read-only", lambda p, t: ["zoo", "build", "--out", str(p["read_only"] / "z"), "--steps", "1"], "--out", "cannot", study="read_only"),
    case("sweep-out-empty", lambda p, t: ["sweep", str(p["study"]), "--out", "", "--run-function", SYNTHETIC], "--out", "empty path"),
    case("sweep-study-empty", lambda p, t: ["sweep", "", "--out", str(t / "s")], "empty"),
    case("sweep-out-read-only", lambda p, t: ["sweep", str(p["study"]), "--out", str(p["read_only"]), "--run-function", SYNTHETIC], "not a writable directory", study="read_only"),
    case("sweep-every-bad-field", lambda p, t: ["sweep", str(p["study_every_bad"]), "--out", str(t / "s")], "grid.models[0]", "grid.models[1]", "grid.tasks[1]", "estimators[1]"),
    case("sweep-every-bad-schema-field", lambda p, t: ["sweep", str(p["study"]), "--out", str(t / "s"), "--set", "training.dtype=float64", "--set", "training.learning_rate=nan", "--set", "grid.ranks=[0]"], "training.dtype", "training.learning_rate", "grid.ranks"),
    case("fit-read-only", lambda p, t: ["fit", str(p["read_only"])], "cannot write", study="read_only"),
    case("report-read-only", lambda p, t: ["report", str(p["read_only"])], "cannot write", study="read_only"),
    case("fit-dir-empty", lambda p, t: ["fit", ""], "empty path"),
    case("runs-dir-empty", lambda p, t: ["runs", ""], "empty path"),
    case("fit-one-run", lambda p, t: ["fit", str(p["sweep_one"])], "no verdict from 1 finished run", ">= 2 levels", study="sweep_one"),
    case("report-one-run", lambda p, t: ["report", str(p["sweep_one"])], "no verdict from 1 finished run", study="sweep_one"),
    case("fit-one-seed", lambda p, t: ["fit", str(p["sweep_one_seed"])], "R: 3 level(s)", ">= 2 seeds", study="sweep_one_seed"),
    # damaged stores: every command that reads one says so in one line and leaves it as it is
    *[_store_case(command, damage, "rebuild-store") for damage in STORE_DAMAGE for command in STORE_COMMANDS],
    _store_case("sweep", "missing", "runs.sqlite is missing", "rebuild-store"),
    _store_case("fit", "missing", "runs.sqlite is missing", "rebuild-store"),
    _store_case("report", "missing", "runs.sqlite is missing", "rebuild-store"),
    _store_case("sweep", "mismatch", "does not hold 1 of the 24 runs"),
    _store_case("fit", "mismatch", "does not hold 1 of the 24 runs"),
    _store_case("runs", "mismatch", "does not hold 1 of the 24 runs"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2(
    case: Case,
    world: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, argv, expected, study = case
    monkeypatch.chdir(tmp_path)  # whatever a bad path falls back to, it lands here, not in the repo
    if name == "sweep-device-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    paths = dict(world)
    if study == "read_only":
        paths["read_only"] = request.getfixturevalue("read_only")
    before = _digest(paths[study])
    capsys.readouterr()
    code = run_cli(argv(paths, tmp_path))  # an escaping exception fails the case
    err = capsys.readouterr().err
    # warnings (e.g. an uncached hub id with a stand-in run function) may precede the error
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for text in expected:
        assert text.lower() in lines[0].lower(), lines[0]
    assert _digest(paths[study]) == before
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


SURFACE = "tests/cli/test_cli_surface.py::"
FAULTS = "tests/sweeps/test_store_faults.py::"
ISSUE_13: dict[str, list[str]] = {
    # the table
    "measure: adapter of another base (hidden 96 vs 128)": ["measure-adapter-wrong-base"],
    "measure: adapter dir without adapter_model.safetensors": ["measure-adapter-no-weights"],
    "measure: truncated adapter_model.safetensors": ["measure-adapter-truncated"],
    "measure: broken adapter_config.json": ["measure-adapter-bad-json"],
    "measure: a PNG or Latin-1 bytes as --data": ["measure-data-png", "measure-data-latin1"],
    "measure: --k 100000": ["measure-k-huge"],
    "measure: --feature-map topk --k 500 on small d (clamped to d by design, docs/method.md "
    "§3.5; the identity map's d limit is the error)": [
        f"{SURFACE}test_measure_names_its_all_token_ce_apart_and_accepts_both_spellings",
        "measure-feature-map-identity-too-wide",
    ],
    "measure: --json naming a directory": ["measure-json-dir"],
    "fit, report: read-only study dir": ["fit-read-only", "report-read-only"],
    "zoo build: --threads 0, --steps -1, --batch-size 0, --seq-len 0": [
        "zoo-build-threads-0", "zoo-build-steps-neg", "zoo-build-batch-0", "zoo-build-seq-0",
    ],
    "zoo build, train: --out a file / a read-only mount": [
        "zoo-build-out-file", "train-out-file", "zoo-build-out-read-only", "train-out-read-only",
    ],
    "train: --epochs inf": ["train-epochs-inf"],
    "sweep: a PNG as the study file": ["sweep-study-png"],
    "sweep: device cuda without one; dtype float64": ["sweep-device-cuda", "sweep-dtype-f64"],
    "demo: --out ''": ["demo-out-empty", "demo-quick-out-empty"],
    "sweep, sweep --dry-run: runs.sqlite with garbage over header / last 4 KB, or half": [
        f"{command}-store-{damage}" for command in ("sweep", "sweep-dry-run")
        for damage in ("tail-garbage", "head-garbage", "half")
    ],
    "fit: the same corrupted runs.sqlite": [
        f"{command}-store-{damage}" for command in ("fit", "report", "runs")
        for damage in ("tail-garbage", "head-garbage", "half")
    ],
    "sweep: runs.sqlite truncated to 0 bytes": ["sweep-store-empty", "sweep-dry-run-store-empty"],
    # data loss or silent overwrite
    "runs.sqlite-wal lost mid-sweep, then kill -9; rebuild from runs/*/result.json": [
        f"{FAULTS}test_finished_runs_survive_a_lost_wal",
        f"{FAULTS}test_damaged_store_is_refused_untouched_then_rebuilt",
        f"{SURFACE}test_repair_from_the_command_line_recovers_every_run",
    ],
    "train --out on an existing run": [
        "train-existing-run", f"{SURFACE}test_train_out_is_replaced_only_with_overwrite",
    ],
    "zoo build: user dir by default, validates before writing": [
        f"{SURFACE}test_zoo_build_defaults_to_a_user_dir", "zoo-build-steps-neg",
    ],
    "sweep --allow-changed keeps earlier rows": [
        "sweep-changed-study",
        "tests/sweeps/test_sweep_run.py::test_changed_study_is_refused_unless_allowed",
    ],
    "diverged runs, --tau nan/inf, --max-length 0/-5/4096, demo --out ''": [
        "train-lr-inf", "train-lr-huge", "train-alpha-nan", "sweep-set-bad-value",
        "sweep-set-lr-huge", f"{FAULTS}test_non_finite_metrics_fail_the_run_with_the_reason",
        "measure-tau-nan", "measure-tau-inf", "measure-max-length-0", "measure-max-length-neg",
        "measure-max-length-past-context", "demo-out-empty",
    ],
    "fit on one run names a winner": ["fit-one-run", "report-one-run", "fit-one-seed"],
    # what to deliver, 1-6 (0 is the data-loss block above)
    "1: a study validated whole, one error naming every bad field": [
        "sweep-every-bad-field", "sweep-every-bad-schema-field",
    ],
    "1: paths checked up front": ["measure-json-missing-dir", "sweep-out-file", "fit-dir-empty"],
    "2: adapters vs their base, no network for a local adapter": [
        "measure-adapter-wrong-base", "measure-adapter-no-weights",
    ],
    "3: data files: byte offset, line number": ["measure-data-latin1", "measure-data-bad-line"],
    "4: the OS errors a user causes": [
        f"{SURFACE}test_os_errors_a_user_causes_are_one_line", "fit-read-only",
    ],
    "5: store faults: quick_check, csv mismatch, emptied store, lock, repair": [
        "fit-store-mismatch", "sweep-store-missing", "sweep-store-empty",
        f"{FAULTS}test_second_sweep_names_the_lock_holder",
    ],
    "6: --version; tasks; a sweep's failed runs": [
        f"{SURFACE}test_version_is_the_installed_package",
        f"{SURFACE}test_tasks_lists_every_registered_task",
        f"{SURFACE}test_runs_failed_lists_each_failed_run_with_its_error",
    ],
    "6: a hub id offline fails at once, once per sweep": ["sweep-hub-id-offline"],
    "6: editing only description needs no --allow-changed": [
        f"{SURFACE}test_editing_only_the_description_needs_no_allow_changed",
    ],
    "6: js-mi and js_mi both accepted": [
        "measure-estimator-twice",
        f"{SURFACE}test_each_estimator_has_one_spelling_with_either_separator",
    ],
    "6: errors name flags, not internal fields": ["train-lr-inf", "train-epochs-inf"],
    "6: CE means one thing (measure's all-token CE is LM CE)": [
        f"{SURFACE}test_measure_names_its_all_token_ce_apart_and_accepts_both_spellings",
    ],
    "6: piped output not cut to 80 columns": [f"{SURFACE}test_piped_output_is_not_cut_to_80_columns"],
}  # fmt: skip
"""Each row and bullet of issue 13 → the cases (ids above) or tests that cover it."""


def test_every_row_of_the_issue_has_a_case() -> None:
    root = Path(__file__).resolve().parents[2]
    ids = {case[0] for case in CASES}
    for row, covered in ISSUE_13.items():
        assert covered, row
        for item in covered:
            if "::" in item:
                path, test = item.split("::")
                assert f"def {test}(" in (root / path).read_text(), (row, item)
            else:
                assert item in ids, (row, item)
