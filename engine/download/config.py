"""Settings of `pixsift download`: which URL list, where to, and img2dataset's own options."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.core.config import Config, SettingError, setting
from pixsift.engine.io.download_layout import DOWNLOAD_KIND

OUTPUT_KIND = DOWNLOAD_KIND  # engine.io.ownership
SETTINGS_FILE = "download.json"
# img2dataset's resize modes; "no" keeps each image's size (and, with skip_reencode, its bytes when they
# are already in --encode-format).
RESIZE_MODES = ("no", "border", "keep_ratio", "keep_ratio_largest", "center_crop")
ENCODE_FORMATS = ("jpg", "png", "webp")
DEFAULT_IMAGE_SIZE = 256  # img2dataset's


@dataclass(kw_only=True)
class DownloadConfig(Config):
    inputs: str = setting(
        affects_values=True,
        flag="--input",
        help="the URL list: a .parquet, .csv, .tsv or .jsonl table (or a folder of them), one URL a row",
    )
    to: str = setting(
        help="output folder: img2dataset's <shard>.tar, <shard>.parquet and <shard>_stats.json in shards/"
    )
    url_col: str | None = setting(
        None, affects_values=True, help="the URL column (default: url, in any case)"
    )
    caption_col: str | None = setting(
        None, affects_values=True, help="the caption column (default: caption, text or prompt, in any case)"
    )
    save_additional_columns: list[str] | None = setting(
        None,
        affects_values=True,
        help="other columns kept with each sample (default: every other column of the table)",
    )
    processes: int = setting(1, min=1, max=1024, help="img2dataset processes_count")
    threads: int = setting(
        32, min=1, max=4096, help="img2dataset thread_count: downloads at once per process"
    )
    resize_mode: str = setting(
        "no", choices=RESIZE_MODES, affects_values=True, help="img2dataset resize_mode"
    )
    image_size: int | None = setting(
        None,
        min=8,
        max=16384,
        affects_values=True,
        help=f"the size a resize mode aims at (default {DEFAULT_IMAGE_SIZE}; not with --resize-mode no)",
    )
    encode_format: str = setting(
        "jpg", choices=ENCODE_FORMATS, affects_values=True, help="img2dataset encode_format"
    )
    skip_reencode: bool = setting(
        True, affects_values=True, help="keep the original bytes of an image already in --encode-format"
    )
    retries: int = setting(2, min=0, max=100, help="attempts per URL after the first")
    timeout: float = setting(10.0, min=0.1, max=3600.0, help="seconds to wait for a server, per attempt")
    shard_size: int = setting(
        10_000, min=1, max=1 << 24, affects_values=True, help="img2dataset number_sample_per_shard"
    )

    def check(self) -> None:
        if self.resize_mode == "no" and self.image_size is not None:
            raise SettingError(
                "image_size", "applies to a resize mode; with --resize-mode no images keep their size"
            )
