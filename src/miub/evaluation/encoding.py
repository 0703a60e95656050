"""Context/continuation tokenisation exactly as lm-evaluation-harness's ``HFLM`` does it.

Reference: ``lm_eval.api.model.TemplateLM._encode_pair`` / ``loglikelihood`` and
``lm_eval.models.huggingface.HFLM.tok_encode`` (lm-eval 0.4.x), with ``add_bos_token``
left at its default (None = the tokenizer's own ``add_special_tokens`` behaviour):

1. trailing whitespace of the context moves to the start of the continuation;
2. ``whole = encode(context + continuation)``, ``context_enc = encode(context)``;
   ``continuation_enc = whole[len(context_enc):]``;
3. ``encode`` adds the tokenizer's special tokens (e.g. Llama's BOS) unless the string
   already starts with the decoded prefix token;
4. an empty context becomes ``[prefix_token_id]`` (BOS, else EOS) and the continuation is
   encoded without special tokens.
"""

from __future__ import annotations

from transformers.tokenization_utils_base import PreTrainedTokenizerBase

DEFAULT_MAX_LENGTH = 2048  # lm-eval's fallback when neither config nor tokenizer has a limit
_CONFIG_LENGTH_KEYS = ("n_positions", "max_position_embeddings", "n_ctx")
_TOKENIZER_INFINITY = int(1e30)  # transformers' VERY_LARGE_INTEGER


def prefix_token_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The token that conditions an empty context: BOS if the tokenizer has one, else EOS."""
    token_id = (
        tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    )
    if token_id is None:
        raise ValueError("tokenizer has neither a BOS nor an EOS token to condition on")
    return int(token_id)


def encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    """``HFLM.tok_encode(text)``: special tokens added unless ``text`` starts with the prefix."""
    add_special_tokens = True
    if tokenizer.bos_token_id is not None or tokenizer.eos_token_id is not None:
        prefix = str(tokenizer.decode(prefix_token_id(tokenizer)))
        add_special_tokens = not text.startswith(prefix)
    return list(tokenizer.encode(text, add_special_tokens=add_special_tokens))


def encode_pair(
    tokenizer: PreTrainedTokenizerBase, context: str, continuation: str
) -> tuple[list[int], list[int]]:
    """``(context_enc, continuation_enc)`` token ids, split the lm-evaluation-harness way."""
    if context == "":
        continuation_enc = list(tokenizer.encode(continuation, add_special_tokens=False))
        prefix = prefix_token_id(tokenizer)
        if continuation_enc and continuation_enc[0] == prefix:
            return continuation_enc[:1], continuation_enc[1:]
        return [prefix], continuation_enc
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole_enc = encode(tokenizer, context + continuation)
    context_enc = encode(tokenizer, context)
    return context_enc, whole_enc[len(context_enc) :]


def model_max_length(model: object, tokenizer: PreTrainedTokenizerBase | None = None) -> int:
    """Longest input the model takes: config ``n_positions`` / ``max_position_embeddings`` /
    ``n_ctx``, else the tokenizer's ``model_max_length``, else 2048 (lm-eval's order)."""
    config = getattr(model, "config", None)
    source = getattr(config, "text_config", None) or config
    for key in _CONFIG_LENGTH_KEYS:
        value = getattr(source, key, None)
        if value is not None:
            return int(value)
    limit = getattr(tokenizer, "model_max_length", None)
    if limit is not None and limit != _TOKENIZER_INFINITY:
        return int(limit)
    return DEFAULT_MAX_LENGTH
