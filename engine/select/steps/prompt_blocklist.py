"""`type = "prompt"`, `name = "blocklist"`: captions without the blocked terms ("prompt:blocklist")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pixsift.engine.select.steps.captions import CaptionFilter, strings


@dataclass(frozen=True)
class BlocklistFilter(CaptionFilter, type="prompt", name="blocklist"):
    """Drop captions holding any of `terms` as whole words (case-insensitive; a term may span words)."""

    terms: tuple[str, ...]
    name: str = "prompt:blocklist"

    def __post_init__(self):
        object.__setattr__(self, "terms", strings(self.name, "terms", self.terms))
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


def _term_pattern(term: str) -> str:
    """A term whose words may be separated by any run of whitespace."""
    return r"\s+".join(re.escape(word) for word in term.split())
