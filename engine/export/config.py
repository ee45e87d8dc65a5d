"""Settings of `pixsift export`: which selection, where to, in which layout."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.core.config import Config, SettingError, setting
from pixsift.engine.export.formats import FORMATS

IMAGE_MODES = ("bytes", "paths")
DEFAULT_SHARD_SIZE = 1000
OUTPUT_KIND = "export"  # engine.io.ownership
# Hidden, so that pandas, pyarrow datasets, `datasets.load_dataset` and webdataset never take it for data.
MANIFEST = ".pixsift-manifest.json"


@dataclass(kw_only=True)
class ExportConfig(Config):
    store: str = setting(positional=True, help="run store path or fsspec URL")
    selection: str = setting(help="name of the selection in the store")
    to: str = setting(help="export folder (created; a previous export there is replaced, nothing else)")
    format: str = setting(choices=FORMATS, help="the layout")
    shard_size: int = setting(
        DEFAULT_SHARD_SIZE, min=1, max=1 << 24, help="samples per shard, file or image folder"
    )
    images: str = setting("bytes", choices=IMAGE_MODES, help="parquet: image bytes in the file, or paths")
    allow_partial: bool = setting(
        False,
        help="go on with a store whose scoring stopped part-way, leaving its unscored rows out (counted)",
    )

    def check(self) -> None:
        if self.images == "paths" and self.format != "parquet":
            raise SettingError("images", f"'paths' applies to the parquet format only, not {self.format}")
