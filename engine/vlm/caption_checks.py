"""What is checked of a generated caption, as ShareGPT4V's curation checks its captions: empty, cut at the
token limit, or repeating itself (a model looping on a phrase)."""

from __future__ import annotations


def repetition(text: str, n: int) -> float:
    """The share of the caption's word n-grams that repeat an earlier one (0 for fewer than n words)."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def flags(text: str, hit_limit: bool, repeated: float, repetition_max: float) -> str:
    """The problems of a caption, comma-separated ("" when none): empty, truncated, repetitive."""
    found = [
        name
        for name, on in (
            ("empty", not text.strip()),
            ("truncated", hit_limit),
            ("repetitive", repeated > repetition_max),
        )
        if on
    ]
    return ",".join(found)
