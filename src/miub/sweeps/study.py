"""Study files: a declarative grid of LoRA fine-tuning runs, validated by pydantic.

A study names the axes of a scaling-law study (models N, ranks R, data sizes D, plus tasks and
seeds), how they are combined (``grid.kind``: the ``full`` factorial, or one-axis-at-a-time
``slices`` through a ``center`` point, as the source paper varies one of N, R, D at a time),
the LoRA / training / evaluation settings shared by every run, and where the runs execute::

    name: demo
    grid:
      kind: slices            # full | slices
      models: [zoo:world-xxs, zoo:world-xs, zoo:world-s, zoo:world-m]
      tasks: [recall]
      ranks: [1, 2, 4, 8]
      data_sizes: [64, 128, 256]
      seeds: [0, 1]           # every grid point is run once per seed
      center: {model: zoo:world-s, rank: 4, data_size: 128}
    lora: {alpha: null, dropout: 0.05}              # TrainConfig fields
    training: {learning_rate: 0.002, epochs: 2}     # TrainConfig fields
    eval: {k: 64, eval_examples: 100}               # EvalConfig fields
    estimators: [js-mi, dpi, token-jsd]
    executor: {kind: local, workers: 1, address: null, resources: {num_cpus: 1, num_gpus: 0}}

Every section other than ``name`` and ``grid`` is optional; unset fields take the defaults of
:class:`~miub.training.config.TrainConfig` / :class:`~miub.training.config.EvalConfig`, whose
field definitions (defaults, bounds) the sections reuse. Errors name the bad key, e.g.
``studies/x.yaml: grid.ranks: must be a non-empty list of positive integers``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from miub.errors import MiubUserError
from miub.errors import format_validation_error as _format_validation_error
from miub.tasks.base import EvalSplit
from miub.training.config import EvalConfig, TrainConfig


def _same_as(model: type[BaseModel], name: str) -> Any:
    """The field definition (default, bounds, description) of ``model.name``, for reuse."""
    return copy.deepcopy(model.model_fields[name])


def canonical_estimator(name: str) -> str:
    """The registered spelling of an estimator name, whichever separator the user typed
    (``js_mi``, the CSV column, or ``js-mi``, the registry name → ``js-mi``); an unknown name
    comes back unchanged for the check that names it."""
    from miub.estimators import list_estimators
    from miub.interface import column_name

    wanted = column_name(name.strip().lower())
    for spec in list_estimators():
        if column_name(spec.name) == wanted:
            return spec.name
    return name


def _list_check(value: Any, *, minimum: int | None, allow: str) -> list[Any]:
    """Check a non-empty list of unique values: integers ≥ ``minimum``, or (``minimum`` None)
    non-empty strings. The error says it must be a non-empty list of ``allow``."""
    message = f"must be a non-empty list of {allow}"
    if not isinstance(value, list) or not value:
        raise ValueError(message)
    for item in value:
        if minimum is None:
            good = isinstance(item, str) and bool(item.strip())
        else:
            good = isinstance(item, int) and not isinstance(item, bool) and item >= minimum
        if not good:
            raise ValueError(f"{message}, got {item!r}")
    duplicates = sorted({str(item) for item in value if value.count(item) > 1})
    if duplicates:
        raise ValueError(f"lists {', '.join(duplicates)} more than once")
    return value


class Center(BaseModel):
    """The point the ``slices`` grid passes through: each slice varies one axis from here."""

    model_config = ConfigDict(extra="forbid")

    model: str
    rank: int = Field(ge=1)
    data_size: int = Field(ge=1)


class Grid(BaseModel):
    """The axes of the study and how they combine into runs."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["full", "slices"] = "full"
    models: list[str]
    tasks: list[str]
    ranks: list[int]
    data_sizes: list[int]
    seeds: list[int] = Field(default_factory=lambda: [0])
    center: Center | None = None

    @field_validator("models", "tasks", mode="before")
    @classmethod
    def _names(cls, value: Any) -> list[str]:
        return _list_check(value, minimum=None, allow="names")

    @field_validator("ranks", "data_sizes", mode="before")
    @classmethod
    def _positive(cls, value: Any) -> list[int]:
        return _list_check(value, minimum=1, allow="positive integers")

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, value: Any) -> list[int]:
        return _list_check(value, minimum=0, allow="non-negative integers")

    @model_validator(mode="after")
    def _center_matches_kind(self) -> Grid:
        # Messages start with the key they are about; the formatter moves it into the location.
        if self.kind == "full" and self.center is not None:
            raise ValueError("center: only used with kind: slices; remove it or set kind: slices")
        if self.kind == "slices":
            if self.center is None:
                raise ValueError("center: required with kind: slices ({model, rank, data_size})")
            for axis, values in (("model", self.models), ("rank", self.ranks)):
                if getattr(self.center, axis) not in values:
                    raise ValueError(f"center.{axis}: must be one of {axis}s {values}")
            if self.center.data_size not in self.data_sizes:
                raise ValueError(f"center.data_size: must be one of data_sizes {self.data_sizes}")
        return self


class LoraSettings(BaseModel):
    """LoRA settings shared by every run (fields of :class:`TrainConfig`)."""

    model_config = ConfigDict(extra="forbid")

    alpha: float | None = _same_as(TrainConfig, "alpha")
    dropout: float = _same_as(TrainConfig, "dropout")
    use_rslora: bool = _same_as(TrainConfig, "use_rslora")
    target_modules: list[str] = _same_as(TrainConfig, "target_modules")


class TrainingSettings(BaseModel):
    """Optimisation and runtime settings shared by every run (fields of :class:`TrainConfig`)."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = _same_as(TrainConfig, "learning_rate")
    epochs: float = _same_as(TrainConfig, "epochs")
    max_steps: int | None = _same_as(TrainConfig, "max_steps")
    batch_size: int = _same_as(TrainConfig, "batch_size")
    max_length: int = _same_as(TrainConfig, "max_length")
    weight_decay: float = _same_as(TrainConfig, "weight_decay")
    warmup_ratio: float = _same_as(TrainConfig, "warmup_ratio")
    task_options: dict[str, Any] = _same_as(TrainConfig, "task_options")
    dtype: str = _same_as(TrainConfig, "dtype")
    device: str = _same_as(TrainConfig, "device")
    device_map: str | None = _same_as(TrainConfig, "device_map")
    gradient_checkpointing: bool = _same_as(TrainConfig, "gradient_checkpointing")


class EvalSettings(BaseModel):
    """Evaluation settings (fields of :class:`EvalConfig`; the estimators are top-level)."""

    model_config = ConfigDict(extra="forbid")

    k: int = _same_as(EvalConfig, "k")
    tau: float = _same_as(EvalConfig, "tau")
    feature_map: str = _same_as(EvalConfig, "feature_map")
    estimator_seed: int = _same_as(EvalConfig, "estimator_seed")
    split: EvalSplit = _same_as(EvalConfig, "split")
    eval_examples: int = _same_as(EvalConfig, "eval_examples")
    ce_examples: int = _same_as(EvalConfig, "ce_examples")
    batch_size: int = _same_as(EvalConfig, "batch_size")
    interval_steps: int = _same_as(EvalConfig, "interval_steps")
    at_start: bool = _same_as(EvalConfig, "at_start")


class Resources(BaseModel):
    """What one run needs. ``num_cpus`` is also the number of torch threads a run uses."""

    model_config = ConfigDict(extra="forbid")

    num_cpus: float = Field(default=1.0, gt=0)
    num_gpus: float = Field(default=0.0, ge=0)


class ExecutorSettings(BaseModel):
    """Where runs execute. ``workers`` = runs in flight at once (local processes or Ray tasks)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "ray"] = "local"
    workers: int = Field(default=1, ge=1)
    address: str | None = Field(
        default=None, description="Ray cluster address; None = start a local Ray"
    )
    resources: Resources = Field(default_factory=Resources)


class Study(BaseModel):
    """A whole study: the grid, the settings every run shares, and the executor."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    description: str = ""
    grid: Grid
    lora: LoraSettings = Field(default_factory=LoraSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)
    estimators: list[str] = _same_as(EvalConfig, "estimators")
    executor: ExecutorSettings = Field(default_factory=ExecutorSettings)

    @field_validator("estimators", mode="before")
    @classmethod
    def _estimator_names(cls, value: Any) -> list[str]:
        if isinstance(value, list):  # js_mi and js-mi are one estimator (and one duplicate)
            value = [canonical_estimator(v) if isinstance(v, str) else v for v in value]
        return _list_check(value, minimum=None, allow="estimator names")


FIELDS_ADDED_LATER: dict[str, tuple[str, ...]] = {"eval": ("at_start",)}
"""Settings added after stores existed: at their default they leave a study's hash unchanged."""


def study_hash(study: Study) -> str:
    """16-hex-digit hash of everything that changes results (all but ``executor`` and the
    free-text ``description``, which is hashed as empty: editing it changes nothing)."""
    payload = study.model_dump(mode="json", exclude={"executor"})
    payload["description"] = ""  # as if never set: hashes of existing stores stay valid
    for section, fields in FIELDS_ADDED_LATER.items():  # hashed only once set to a non-default
        for name in fields:
            default = type(getattr(study, section)).model_fields[name].default
            if payload[section].get(name) == default:
                payload[section].pop(name, None)
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse_study(data: Any, source: str = "<study>") -> Study:
    """Validate a mapping as a :class:`Study`; errors are one :class:`MiubUserError` line."""
    if not isinstance(data, dict):
        raise MiubUserError(f"{source}: a study must be a YAML mapping (name:, grid:, ...)")
    try:
        return Study.model_validate(data)
    except ValidationError as error:
        raise MiubUserError(f"{source}: {format_validation_error(error)}") from None


def load_study(path: str | Path) -> Study:
    """Read and validate a study YAML file (see the module docstring for the format)."""
    return parse_study(load_study_data(path), source=str(path))


def load_study_data(path: str | Path) -> Any:
    """The parsed YAML of a study file, not yet validated (``--set`` overrides apply to it)."""
    path = Path(path)
    if path.is_dir():
        raise MiubUserError(f"study file {path} is a directory; pass a .yaml file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MiubUserError(f"cannot read study file {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise MiubUserError(
            f"study file {path} is not UTF-8 text (byte offset {error.start}); pass a YAML file"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise MiubUserError(f"{path}: not valid YAML{line}") from None
    return data


def shipped_studies() -> dict[str, Path]:
    """The study files that ship with miub, by name (``demo``, ``demo-quick``, ...)."""
    folder = resources.files("miub").joinpath("studies")
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    }


def resolve_study_path(spec: str | Path) -> Path:
    """A study file path, or the name of a shipped study (``demo``) when no such file exists."""
    path = Path(spec)
    if path.exists():
        return path
    shipped = shipped_studies()
    if str(spec) in shipped:
        return shipped[str(spec)]
    names = ", ".join(sorted(shipped))
    raise MiubUserError(f"study file {spec} does not exist (shipped studies: {names})")


def _all_keys() -> set[str]:
    keys: set[str] = set()
    for model in (Study, Grid, Center, LoraSettings, TrainingSettings, EvalSettings):
        keys.update(model.model_fields)
    keys.update(ExecutorSettings.model_fields, Resources.model_fields)
    return keys


def format_validation_error(error: ValidationError) -> str:
    """One line ``key.path: message; ...`` with key suggestions
    (:func:`miub.errors.format_validation_error`, the one formatter)."""
    return _format_validation_error(error, _all_keys())
