"""Loading base models, tokenizers and LoRA adapters (zoo names, local dirs, Hugging Face ids)."""

from miub.models.loading import (
    count_parameters,
    load_adapter,
    load_model_and_tokenizer,
    resolve_device,
    resolve_dtype,
)

__all__ = [
    "count_parameters",
    "load_adapter",
    "load_model_and_tokenizer",
    "resolve_device",
    "resolve_dtype",
]
