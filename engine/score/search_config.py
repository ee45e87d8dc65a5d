"""Settings of `pixsift search` (engine.score.search), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.core.config import Config, SettingError, setting
from pixsift.engine.store.show import FORMATS


@dataclass(kw_only=True)
class SearchConfig(Config):
    store: str = setting(positional=True, help="run store path or fsspec URL")
    text: str | None = setting(None, positional=True, help="the text to search for")
    image: str | None = setting(None, help="an image file to search for (instead of a text)")
    k: int = setting(20, min=1, max=100_000, help="how many rows: the nearest first")
    selection: str | None = setting(None, help="search only the rows this selection kept")
    html: str | None = setting(None, help="also write a contact sheet of the rows found to this HTML file")
    format: str = setting("table", choices=FORMATS, help="an aligned table, or one JSON object per row")
    device: str = setting("auto", help="where the query is embedded and compared: auto, cpu, cuda or cuda:N")

    def check(self) -> None:
        if (self.text is None) == (self.image is None):
            raise SettingError(
                "text", 'give a text to search for ("a red bicycle") or --image FILE, one of them'
            )
