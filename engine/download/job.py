"""`pixsift download`: img2dataset fetches a URL list into WebDataset shards, and pixsift checks its result.

img2dataset does the work (its Python API, its options passed through, resize mode "no" by default) and
writes per shard, in the folder's `shards/`, `<shard>.tar` (the images, with img2dataset's .json and
.txt), `<shard>.parquet` (every URL of the shard with its status and error message) and
`<shard>_stats.json`. `pixsift score --input FOLDER` reads exactly that (engine.io.input_files): each
URL becomes one row of the store, a failed one with `download: <url>: <img2dataset's message>` (a 404,
a name that does not resolve, a timeout, a page that is not an image). A killed download resumes:
img2dataset keeps the shards it finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pixsift.engine.core.errors import BadInput
from pixsift.engine.download.config import DEFAULT_IMAGE_SIZE, OUTPUT_KIND, SETTINGS_FILE, DownloadConfig
from pixsift.engine.io.download_layout import DOWNLOAD_SHARDS, STATS_SUFFIX, SUCCESS
from pixsift.engine.io.ownership import claim_with_settings, refuse_overlap
from pixsift.engine.io.records import CAPTION_FIELDS
from pixsift.engine.io.rows import column_names
from pixsift.engine.store.lock import writing
from pixsift.kernels.optional import require

# img2dataset's input formats with a header that names the URL column, by the URL list's suffix.
INPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}


@dataclass
class DownloadSummary:
    to: str
    downloaded: int = 0
    failures: Counter = field(default_factory=Counter)  # failed URLs by img2dataset's message
    shards: int = 0

    def text(self) -> str:
        failed = sum(self.failures.values())
        lines = [
            f"downloaded {self.downloaded:,} of {self.downloaded + failed:,} URLs into {self.shards} shards "
            f"in {self.to}; score them with: pixsift score --input {self.to} --store STORE"
        ]
        if failed:
            reasons = ", ".join(f"{why} {n:,}" for why, n in self.failures.most_common(5))
            lines.append(f"{failed:,} failed (they get rows saying why): {reasons}")
        return "\n".join(lines)


def download(cfg: DownloadConfig) -> DownloadSummary:
    url_list, input_format = _url_list(cfg.inputs)
    columns = column_names(url_list)
    url_col = _column(cfg.url_col, ("url",), columns, url_list, "--url-col")
    caption_col = _column(cfg.caption_col, CAPTION_FIELDS, columns, url_list, "--caption-col", required=False)
    additional = cfg.save_additional_columns
    if additional is None:
        additional = [c for c in columns if c not in (url_col, caption_col)]
    for name in additional:
        _column(name, (), columns, url_list, "--save-additional-columns")
    refuse_overlap(cfg.to, cfg.inputs, "the URL list")
    with _environment_kept():
        img2dataset = _img2dataset()
        with _worker_scratch(), writing(cfg.to, OUTPUT_KIND):
            _claim(cfg)
            img2dataset.download(
                url_list=cfg.inputs,
                output_folder=str(Path(cfg.to) / DOWNLOAD_SHARDS),
                input_format=input_format,
                output_format="webdataset",
                url_col=url_col,
                caption_col=caption_col,
                save_additional_columns=additional or None,
                processes_count=cfg.processes,
                thread_count=cfg.threads,
                resize_mode=cfg.resize_mode,
                image_size=cfg.image_size or DEFAULT_IMAGE_SIZE,
                encode_format=cfg.encode_format,
                skip_reencode=cfg.skip_reencode,
                retries=cfg.retries,
                timeout=cfg.timeout,
                number_sample_per_shard=cfg.shard_size,
                distributor="multiprocessing",
                incremental_mode="incremental",
                enable_wandb=False,
            )
    return summary_of(cfg.to)


def summary_of(folder: str) -> DownloadSummary:
    """What img2dataset's stats files say about the download in `folder`."""
    summary = DownloadSummary(folder)
    for stats in sorted((Path(folder) / DOWNLOAD_SHARDS).glob(f"*{STATS_SUFFIX}")):
        counts = json.loads(stats.read_text()).get("status_dict", {})
        summary.shards += 1
        summary.downloaded += counts.get(SUCCESS, 0)
        summary.failures.update({why: n for why, n in counts.items() if why != SUCCESS})
    return summary


def _url_list(path: str) -> tuple[str, str]:
    """The first table of the URL list (a file, or a folder of files of one format) and its format."""
    given = Path(path)
    if not given.exists():
        raise BadInput(path, "no such file or folder", "check --input")
    files = sorted(p for p in given.iterdir() if p.suffix in INPUT_FORMATS) if given.is_dir() else [given]
    formats = {p.suffix for p in files}
    if not files or len(formats) != 1 or not formats <= INPUT_FORMATS.keys():
        raise BadInput(
            path, f"not a URL list: give one {', '.join(INPUT_FORMATS)} file, or a folder of one kind"
        )
    return str(files[0]), INPUT_FORMATS[files[0].suffix]


def _column(named: str | None, defaults: tuple[str, ...], columns: list[str], where: str, flag: str,
            required: bool = True) -> str | None:  # fmt: skip
    """The column `named` (checked to be there), else the first of `defaults` present in any case."""
    if named is not None:
        if named not in columns:
            raise BadInput(f"{flag} {named}", f"the URL list {where} has no column {named!r} (columns: "
                           f"{', '.join(columns)})")  # fmt: skip
        return named
    folded = {c.casefold(): c for c in columns}
    found = next((folded[d] for d in defaults if d in folded), None)
    if found is None and required:
        listed = ", ".join(columns)
        raise BadInput(where, f"has no {' or '.join(defaults)} column, in any case (columns: {listed})",
                       f"name it with {flag}")  # fmt: skip
    return found


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """The process environment as it was before: importing img2dataset's OpenCV prepends its own library
    folder to LD_LIBRARY_PATH, which every process started after (a pipeline's next stage, its workers)
    would inherit."""
    before = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


@contextlib.contextmanager
def _worker_scratch() -> Iterator[None]:
    """img2dataset's worker processes (spawned) import wandb, whose module-level TemporaryDirectory
    objects are never removed when a worker ends: two empty folders in the temp folder per worker. Their
    TMPDIR is a folder of pixsift's own, removed after the download (the environment is restored by
    _environment_kept). This process imported wandb before, so its own go at its exit, as usual."""
    scratch = tempfile.mkdtemp(prefix="pixsift-download-")
    os.environ["TMPDIR"] = scratch
    try:
        yield
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _img2dataset():
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # img2dataset's albumentations asks PyPI otherwise
    if sys.version_info >= (3, 13):
        raise BadInput(
            "pixsift download",
            "img2dataset imports the module imghdr, which Python 3.13 removed",
            "run the download with Python 3.11 or 3.12, then score its folder with any Python",
        )
    return require("img2dataset", "pixsift download")


def _claim(cfg: DownloadConfig) -> None:
    """Create the output folder with the settings, or check that an existing one was made with these."""
    settings = {**cfg.value_settings(), "inputs": str(Path(cfg.inputs).resolve())}
    claim_with_settings(cfg.to, OUTPUT_KIND, settings, SETTINGS_FILE, "--to")
