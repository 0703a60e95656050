"""Load a causal LM and its tokenizer from a model spec, and a peft adapter onto it.

A model spec is one of

* ``zoo:NAME``   — a built-in base model (:func:`miub.zoo.load`),
* a local directory holding a ``from_pretrained`` checkpoint,
* a Hugging Face hub id (resolved from the local cache when offline).

Every failure the user can fix is a one-line :class:`~miub.errors.MiubUserError`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

from miub.errors import MiubUserError
from miub.zoo import real_models
from miub.zoo.real_models import REAL_MODELS

ZOO_PREFIX = "zoo:"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float32" | "bfloat16" | "float16"`` (or a ``torch.dtype``) → ``torch.dtype``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise MiubUserError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → ``cuda`` if available, else ``mps`` if available, else ``cpu``.

    Explicit devices (``"cpu"``, ``"cuda"``, ``"cuda:1"``) are checked for availability.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise MiubUserError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MiubUserError(
            f"device {device!r} requested but CUDA is not available; use --device cpu"
        )
    return resolved


def ensure_pad_token(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Give the tokenizer a pad token if it has none (unk, else eos, else a new ``<|pad|>``).

    Same order as lm-evaluation-harness's ``configure_pad_token``. Padding never changes a
    score here: padded positions are masked out of every loss and log-likelihood.
    """
    if tokenizer.pad_token_id is not None:
        return tokenizer
    if tokenizer.unk_token is not None:
        tokenizer.pad_token = tokenizer.unk_token
    elif tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    else:
        tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
    return tokenizer


def quiet_third_party_output() -> None:
    """Silence per-load progress bars and a known peft/transformers deprecation notice, which
    otherwise interleave with miub's own progress display (sweeps load a model per run)."""
    transformers_logging.disable_progress_bar()
    warnings.filterwarnings(
        "ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning
    )


def load_model_and_tokenizer(
    spec: str,
    *,
    dtype: str | torch.dtype = "float32",
    device: str | torch.device = "auto",
    device_map: str | dict[str, Any] | None = None,
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` from ``zoo:NAME``, a local directory or a hub id.

    The model is put in eval mode on ``device`` (ignored when ``device_map`` is given, which
    is handed to ``from_pretrained`` for multi-device placement) with weights in ``dtype``.
    safetensors weights are preferred; remote code runs only if ``trust_remote_code``.
    """
    quiet_third_party_output()
    torch_dtype = resolve_dtype(dtype)
    if spec.startswith(ZOO_PREFIX) and spec[len(ZOO_PREFIX) :] in REAL_MODELS:
        # a real pretrained model: its package's GGUF, converted once to a cached safetensors dir
        folder = real_models.ensure(spec[len(ZOO_PREFIX) :])
        model, tokenizer = _load_pretrained(str(folder), torch_dtype, device_map, False)
    elif spec.startswith(ZOO_PREFIX):
        model, tokenizer = _load_from_zoo(spec[len(ZOO_PREFIX) :])
        torch.nn.Module.to(model, dtype=torch_dtype)
    else:
        model, tokenizer = _load_pretrained(spec, torch_dtype, device_map, trust_remote_code)
    if device_map is None:
        torch.nn.Module.to(model, resolve_device(device))  # in place
    model.eval()
    return model, ensure_pad_token(tokenizer)


def _load_from_zoo(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    try:
        from miub import zoo
    except ImportError:  # the zoo is built by a separate part of the project
        raise MiubUserError("the model zoo is not available in this installation") from None
    if name not in zoo.names():
        raise MiubUserError(
            f"unknown zoo model {name!r}; available: {', '.join([*zoo.names(), *REAL_MODELS])}"
        )
    model, tokenizer = zoo.load(name)
    return model, tokenizer


def _load_pretrained(
    spec: str,
    torch_dtype: torch.dtype,
    device_map: str | dict[str, Any] | None,
    trust_remote_code: bool,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    path = Path(spec).expanduser()
    looks_local = spec.startswith((".", "/", "~")) or path.exists()
    if looks_local and not path.is_dir():
        raise MiubUserError(
            f"model directory {spec} does not exist; pass zoo:NAME, a dir or a hub id"
        )
    if looks_local and not (path / "config.json").is_file():
        raise MiubUserError(
            f"model {spec!r} not found: {path} has no config.json; pass a save_pretrained dir"
        )
    source = str(path) if looks_local else spec
    try:
        model = _from_pretrained(source, torch_dtype, device_map, trust_remote_code)
    except OSError as error:
        raise MiubUserError(
            f"model {spec!r} not found locally ({_first_line(error)}); "
            "download it first or pass a local dir"
        ) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise MiubUserError(
            f"no usable tokenizer for model {spec!r} ({_first_line(error)}); "
            "save the tokenizer next to the model"
        ) from None
    return model, tokenizer


def _from_pretrained(
    source: str,
    torch_dtype: torch.dtype,
    device_map: str | dict[str, Any] | None,
    trust_remote_code: bool,
) -> PreTrainedModel:
    kwargs: dict[str, Any] = {
        "dtype": torch_dtype,
        "device_map": device_map,
        "trust_remote_code": trust_remote_code,
    }
    try:
        return AutoModelForCausalLM.from_pretrained(source, use_safetensors=True, **kwargs)
    except OSError:
        # Older checkpoints ship only pytorch_model.bin; fall back to it.
        return AutoModelForCausalLM.from_pretrained(source, **kwargs)


def load_adapter(
    model: PreTrainedModel, adapter_dir: str | Path, *, trainable: bool = False
) -> Any:
    """Wrap ``model`` with the peft adapter saved in ``adapter_dir`` (``save_pretrained`` output).

    Returns the ``peft.PeftModel`` (in eval mode unless ``trainable``).
    """
    from peft import PeftModel

    path = Path(adapter_dir).expanduser()
    check_adapter(model, path)  # every problem is one line here, before peft (no network)
    peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    if not trainable:
        peft_model.eval()
    return peft_model


ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_RESAVE = "re-save the adapter (peft save_pretrained)"


def check_adapter(model: torch.nn.Module, path: Path) -> None:
    """Check a local peft adapter dir against ``model`` before loading it.

    One MiubUserError line, naming the file, for: a missing dir or ``adapter_config.json``,
    broken JSON, a missing weights file (so peft never falls back to a hub lookup), a truncated
    safetensors file, target modules the model does not have, and LoRA tensors whose shapes do
    not fit the model (naming the layer and both dims; LoRA ``A`` is ``(r, in)``, ``B`` is
    ``(out, r)``).
    """
    import json

    if not path.is_dir():
        raise MiubUserError(f"--adapter {path} is not a directory; pass a peft save_pretrained dir")
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise MiubUserError(
            f"adapter directory {path} has no adapter_config.json; pass a peft save_pretrained dir"
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a JSON object")
    except (UnicodeDecodeError, ValueError) as error:
        raise MiubUserError(f"{config_file} is not valid JSON ({error}); {_RESAVE}") from None
    weights = next((path / name for name in ADAPTER_WEIGHTS if (path / name).is_file()), None)
    if weights is None:
        raise MiubUserError(f"{path / ADAPTER_WEIGHTS[0]} is missing; {_RESAVE}")
    base = config.get("base_model_name_or_path")
    trained_on = f" (the adapter was trained on {base})" if base else ""
    targets = config.get("target_modules") or []
    if isinstance(targets, str):
        targets = [targets]
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = sorted(set(targets) - names)
    if missing:
        raise MiubUserError(
            f"{config_file}: target modules {', '.join(missing)} are not in the model"
            f"{trained_on}; pass the adapter's own base model"
        )
    if weights.suffix != ".safetensors":
        return
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            shapes = {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118
    except Exception as error:  # safetensors raises its own SafetensorError for bad files
        raise MiubUserError(f"{weights} cannot be read ({_first_line(error)}); {_RESAVE}") from None
    for key, shape in shapes.items():
        problem = _lora_shape_problem(model, key, shape)
        if problem is not None:
            raise MiubUserError(f"{weights}: {problem}{trained_on}; pass the adapter's base model")


def _lora_shape_problem(model: torch.nn.Module, key: str, shape: tuple[int, ...]) -> str | None:
    """Why LoRA tensor ``key`` of ``shape`` does not fit ``model`` (None if it fits)."""
    for part, index in ((".lora_A.", 1), (".lora_B.", 0)):
        if part not in key:
            continue
        module_name = key.split(part)[0].removeprefix("base_model.model.")
        try:
            module = model.get_submodule(module_name)
        except AttributeError:
            return f"layer {module_name} of the adapter is not in the model"
        weight = getattr(module, "weight", None)
        if weight is None or len(shape) != 2:
            return None
        if hasattr(module, "in_features"):  # nn.Linear: weight (out, in)
            dims = (int(module.out_features), int(module.in_features))  # type: ignore[arg-type]
        else:  # GPT-2 Conv1D: weight (in, out)
            dims = (int(weight.shape[1]), int(weight.shape[0]))
        expected = dims[1] if index == 1 else dims[0]
        if shape[index] != expected:
            side = "in" if index == 1 else "out"
            return (
                f"layer {module_name}: the adapter's {part.strip('.')} is {shape[0]}x{shape[1]},"
                f" but the model's {side} dim is {expected} (the model's layer is"
                f" {dims[1]} in -> {dims[0]} out)"
            )
    return None


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Parameter counts of a base model: ``total`` and ``non_embedding``.

    ``non_embedding`` excludes the input embedding and (if untied) the output embedding
    (LM head), the convention of Kaplan et al. (2020) for the N axis of scaling laws.
    Shared (tied) tensors are counted once.
    """
    seen: set[int] = set()
    total = 0
    for parameter in model.parameters():
        if id(parameter) not in seen:
            seen.add(id(parameter))
            total += parameter.numel()
    embedding = 0
    embedding_ids: set[int] = set()
    modules: list[Any] = [
        getattr(model, getter)()
        for getter in ("get_input_embeddings", "get_output_embeddings")
        if callable(getattr(model, getter, None))
    ]
    for module in modules:
        if module is None:
            continue
        for parameter in module.parameters():
            if id(parameter) not in embedding_ids:
                embedding_ids.add(id(parameter))
                embedding += parameter.numel()
    return {"total": total, "non_embedding": total - embedding}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
