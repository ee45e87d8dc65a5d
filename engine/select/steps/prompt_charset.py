"""`type = "prompt"`, `name = "charset"`: captions of readable characters ("prompt:charset")."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from pixsift.engine.select.steps.captions import REPLACEMENT_CHARACTER, CaptionFilter


@dataclass(frozen=True)
class CharsetFilter(CaptionFilter, type="prompt", name="charset"):
    """Drop captions with control characters (tab and newlines allowed), the replacement character U+FFFD
    or lone surrogates (both signs of a broken decode), or too small a share of letters among the
    non-space characters (markup, URLs, number soup)."""

    min_letter_share: float = 0.5
    name: str = "prompt:charset"

    def __post_init__(self):
        if not 0 <= self.min_letter_share <= 1:
            raise ValueError(f"{self.name}: min_letter_share must be in [0, 1], got {self.min_letter_share}")

    def keeps(self, caption: str) -> bool:
        visible = [ch for ch in caption if not ch.isspace()]
        if not visible:
            return False
        if any(_broken(ch) for ch in caption):
            return False
        return sum(ch.isalpha() for ch in visible) >= self.min_letter_share * len(visible)


def _broken(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch == REPLACEMENT_CHARACTER or category == "Cs" or (category == "Cc" and ch not in "\t\n\r")
