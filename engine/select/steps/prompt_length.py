"""`type = "prompt"`, `name = "length"`: captions of min..max characters and words ("prompt:length")."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.select.steps.captions import CaptionFilter, within


@dataclass(frozen=True)
class LengthFilter(CaptionFilter, type="prompt", name="length"):
    """Keep captions of min..max characters (after stripping) and min..max words; None = no upper bound."""

    min_chars: int = 1
    max_chars: int | None = None
    min_words: int = 0
    max_words: int | None = None
    name: str = "prompt:length"

    def __post_init__(self):
        for low, high in (("min_chars", "max_chars"), ("min_words", "max_words")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo < 0 or (hi is not None and hi < lo):
                raise ValueError(f"{self.name}: need 0 <= {low} <= {high}, got {low}={lo}, {high}={hi}")

    def keeps(self, caption: str) -> bool:
        chars, words = len(caption.strip()), len(caption.split())
        return within(chars, self.min_chars, self.max_chars) and within(words, self.min_words, self.max_words)
