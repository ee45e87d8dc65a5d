"""Prompt filters for `pixsift select`: Fine-T2I's prompt quality, SynthVLM's caption curation.

Each is a step whose name is the drop reason: "prompt:length", "prompt:charset", "prompt:language",
"prompt:blocklist", and "prompt:near_duplicate" (captions whose text embeddings have cosine >= 1 - eps, by
the same grouping code as semantic image dedup). Captions are read `CHUNK_ROWS` at a time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from pixsift.engine.select.dedup.steps import SemanticDedup
from pixsift.engine.select.language import guess_language
from pixsift.engine.select.steps.base import ColumnReader, StepResult, WholeSetStep

CHUNK_ROWS = 65536
REPLACEMENT_CHARACTER = "\ufffd"


class _CaptionFilter(WholeSetStep):
    """A step that keeps each row by looking at its caption alone."""

    def keeps(self, caption: str) -> bool:
        raise NotImplementedError

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult:
        keep = np.ones(len(rows), dtype=bool)
        for start in range(0, len(rows), CHUNK_ROWS):
            captions = read("caption", rows[start : start + CHUNK_ROWS])
            keep[start : start + len(captions)] = [self.keeps(str(caption)) for caption in captions]
        return StepResult(keep)


@dataclass(frozen=True)
class LengthFilter(_CaptionFilter):
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
        return _within(chars, self.min_chars, self.max_chars) and _within(
            words, self.min_words, self.max_words
        )


@dataclass(frozen=True)
class CharsetFilter(_CaptionFilter):
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


@dataclass(frozen=True)
class LanguageFilter(_CaptionFilter):
    """Keep captions whose guessed language (engine.select.language.guess_language) is one of
    `languages`; that guess tells English from other scripts and from six Latin-script European languages
    only."""

    languages: tuple[str, ...] = ("en",)
    name: str = "prompt:language"

    def __post_init__(self):
        object.__setattr__(self, "languages", _strings(self.name, "languages", self.languages))

    def keeps(self, caption: str) -> bool:
        return guess_language(caption) in self.languages


@dataclass(frozen=True)
class BlocklistFilter(_CaptionFilter):
    """Drop captions holding any of `terms` as whole words (case-insensitive; a term may span words)."""

    terms: tuple[str, ...]
    name: str = "prompt:blocklist"

    def __post_init__(self):
        object.__setattr__(self, "terms", _strings(self.name, "terms", self.terms))
        if not any(term.strip() for term in self.terms):
            raise ValueError(f"{self.name}: the blocklist has no terms")

    @classmethod
    def from_file(cls, path: str | Path, **options) -> BlocklistFilter:
        """Terms one per line; blank lines and lines starting with # are skipped."""
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ValueError(f"prompt:blocklist: cannot read the blocklist file {path}: {e}") from e
        terms = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
        if not terms:
            raise ValueError(f"prompt:blocklist: the blocklist file {path} has no terms")
        return cls(terms, **options)

    @classmethod
    def from_params(cls, params: dict) -> BlocklistFilter:
        """`file = PATH` names a blocklist file instead of listing `terms`."""
        if "file" in params:
            params = dict(params)
            return cls.from_file(params.pop("file"), **params)
        return super().from_params(params)

    @cached_property
    def _pattern(self) -> re.Pattern:
        terms = sorted({t for t in self.terms if t.strip()}, key=len, reverse=True)
        alternatives = "|".join(_term_pattern(t) for t in terms)
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    def keeps(self, caption: str) -> bool:
        return self._pattern.search(caption) is None


@dataclass(frozen=True)
class NearDuplicateCaptions(SemanticDedup):
    """Captions whose text embeddings are near-duplicates: one kept per group, by `keep_by`."""

    name: str = "prompt:near_duplicate"
    column: str = "text_embedding"


def _strings(step: str, key: str, values) -> tuple[str, ...]:
    """A list from a spec as a tuple; a lone string would otherwise be read as its characters."""
    if isinstance(values, str):
        raise TypeError(f"{step}: {key} must be a list of strings, not the string {values!r}")
    return tuple(values)


def _within(value: int, low: int, high: int | None) -> bool:
    return value >= low and (high is None or value <= high)


def _broken(ch: str) -> bool:
    category = unicodedata.category(ch)
    return ch == REPLACEMENT_CHARACTER or category == "Cs" or (category == "Cc" and ch not in "\t\n\r")


def _term_pattern(term: str) -> str:
    """A term whose words may be separated by any run of whitespace."""
    return r"\s+".join(re.escape(word) for word in term.split())
