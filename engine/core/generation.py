"""What the stages that run a language model (engine.vlm, engine.prompts) share: the model's context
length, its end-of-turn tokens, and generated token ids cut at the first of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Generated:
    text: str
    tokens: int
    hit_limit: bool  # stopped at max_new_tokens, not at an end-of-turn token


def context_length(config, tokenizer) -> int:
    text = getattr(config, "text_config", config)
    for value in (getattr(text, "max_position_embeddings", None), tokenizer.model_max_length):
        if isinstance(value, int) and 0 < value < 1 << 24:
            return value
    return 1 << 24


def end_tokens(generation_config, tokenizer) -> list[int]:
    ends = generation_config.eos_token_id
    ends = list(ends) if isinstance(ends, list | tuple) else [ends] if ends is not None else []
    return sorted({*ends, *([tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else [])})


def decode_generated(tokenizer, rows: Sequence[Sequence[int]], ends: Sequence[int], max_new_tokens: int):
    """Each row of new token ids as text, cut at its first end token."""
    results = []
    for ids in rows:
        stop = next((i for i, t in enumerate(ids) if t in ends), None)
        kept = list(ids) if stop is None else list(ids[:stop])
        text = tokenizer.decode(kept, skip_special_tokens=True).strip()
        results.append(Generated(text, len(kept), stop is None and len(ids) >= max_new_tokens))
    return results
