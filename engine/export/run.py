"""`pixsift export`: the kept candidates of a selection as training data, in one of four layouts.

    webdataset  shard-<i>.tar: <sample>.<ext> (the original image bytes) + <sample>.json (the record)
    parquet     part-<i>.parquet: the record's fields + the image bytes (or paths, `images="paths"`)
    jsonl       ShareGPT-4o-Image / Janus-4o samples + image files (engine.export_sharegpt)
    hf          Parquet that Hugging Face `datasets.load_dataset(folder)` loads, images as `Image`

Samples are the kept rows in store order, named by their position (000000042); shard or file i holds
positions [i * shard_size, (i + 1) * shard_size). Every record carries the candidate's key, caption,
metadata, image size and format, scores, weighted score and duplicate group. `manifest.json` lists every
file (or image folder) with its sample count, size and SHA-256, and every kept row that is not in the
export with the reason (its bytes can no longer be read, an edit source is missing). Nothing depends on
time or the machine, so exporting the same selection twice gives identical files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.export.files import FileEntry
from engine.export.parquet import write_hf, write_parquet
from engine.export.sharegpt import write_sharegpt
from engine.export.webdataset import write_webdataset
from engine.store.edit_sources import EditSources
from engine.store.kept_rows import ExportRow, RowError, export_rows, record_fields
from engine.store.run_store import RunStore
from engine.store.selection import kept_rows, selection_group

FORMATS = ("webdataset", "parquet", "jsonl", "hf")
IMAGE_MODES = ("bytes", "paths")
DEFAULT_SHARD_SIZE = 1000
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# What an export folder may hold; a folder with anything else in it is never replaced.
_EXPORT_NAMES = ("manifest.json", "train.jsonl", "train.json", "README.md", "images", "data")
_EXPORT_PATTERNS = ("shard-*.tar", "part-*.parquet")


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    format: str
    n_kept: int
    files: list[FileEntry]
    errors: list[RowError]

    @property
    def n_exported(self) -> int:
        return self.n_kept - len(self.errors)

    def text(self) -> str:
        lines = [
            f"exported {self.n_exported} of {self.n_kept} kept candidates as {self.format} to {self.out}; "
            f"files and checksums in {self.out / MANIFEST}"
        ]
        if self.errors:
            lines.append(f"{len(self.errors)} kept candidates are not in the export:")
            lines += [f"  row {e.row} {e.key}: {e.error}" for e in self.errors]
        return "\n".join(lines)


def export(
    store_url: str,
    selection: str,
    to: str | Path,
    format: str,
    *,
    shard_size: int = DEFAULT_SHARD_SIZE,
    images: str = "bytes",
) -> ExportSummary:
    _check_options(format, shard_size, images)
    store = RunStore.open(store_url, read_only=True)
    out = _empty_folder(Path(to))
    kept = kept_rows(store, selection)
    read_errors: list[RowError] = []
    readable = _readable(export_rows(store, selection, kept), read_errors)
    write_errors: list[RowError] = []
    if format == "webdataset":
        files = write_webdataset(readable, out, shard_size)
    elif format == "parquet":
        files = write_parquet(readable, out, shard_size, record_fields(store), images)
    elif format == "hf":
        files = write_hf(readable, out, shard_size, record_fields(store), len(kept))
    else:
        sources = EditSources.find(store, kept)
        files, write_errors = write_sharegpt(readable, out, shard_size, sources)
    summary = ExportSummary(
        out, format, len(kept), files, sorted(read_errors + write_errors, key=lambda e: e.row)
    )
    _write_manifest(summary, store, selection, shard_size, images)
    return summary


def _check_options(format: str, shard_size: int, images: str) -> None:
    if format not in FORMATS:
        raise ValueError(f"export format {format!r} is not one of {', '.join(FORMATS)}")
    if shard_size < 1:
        raise ValueError(f"shard size must be at least 1, got {shard_size}")
    if images not in IMAGE_MODES:
        raise ValueError(f"images must be one of {', '.join(IMAGE_MODES)}, got {images!r}")
    if images == "paths" and format != "parquet":
        raise ValueError(f"images='paths' applies to the parquet format only, not {format}")


def _readable(rows: Iterable[ExportRow], errors: list[RowError]) -> Iterator[ExportRow]:
    """The rows whose bytes were read; the others go to `errors`."""
    for row in rows:
        if row.error:
            errors.append(RowError.of(row, row.error))
        else:
            yield row


def _empty_folder(out: Path) -> Path:
    """`out`, created or emptied; a folder is emptied only when it holds nothing but a previous export."""
    if out.exists() and any(out.iterdir()):
        if not (out / MANIFEST).is_file() or any(not _export_name(p.name) for p in out.iterdir()):
            raise FileExistsError(f"export folder {out} is not empty and does not hold a pixsift export")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _export_name(name: str) -> bool:
    return name in _EXPORT_NAMES or any(Path(name).match(p) for p in _EXPORT_PATTERNS)


def _write_manifest(summary: ExportSummary, store: RunStore, selection: str, shard_size: int, images: str):
    manifest = {
        "pixsift_export": MANIFEST_VERSION,
        "format": summary.format,
        "images": images,
        "store": store.url,
        "selection": selection,
        "spec": selection_group(store, selection).attrs.get("spec"),
        "shard_size": shard_size,
        "n_kept": summary.n_kept,
        "n_exported": summary.n_exported,
        "files": [asdict(f) for f in summary.files],
        "errors": [asdict(e) for e in summary.errors],
    }
    (summary.out / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
