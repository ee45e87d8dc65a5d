"""`type = "prompt"`, `name = "language"`: captions in the given languages ("prompt:language")."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.select.language import guess_language
from pixsift.engine.select.steps.captions import CaptionFilter, strings


@dataclass(frozen=True)
class LanguageFilter(CaptionFilter, type="prompt", name="language"):
    """Keep captions whose guessed language (engine.select.language.guess_language) is one of
    `languages`; that guess tells English from other scripts and from six Latin-script European languages
    only."""

    languages: tuple[str, ...] = ("en",)
    name: str = "prompt:language"

    def __post_init__(self):
        object.__setattr__(self, "languages", strings(self.name, "languages", self.languages))

    def keeps(self, caption: str) -> bool:
        return guess_language(caption) in self.languages
