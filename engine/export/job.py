"""`pixsift export`: the kept candidates of a selection as training data, in one of the layouts of
engine.export.formats (a module each):

    webdataset  shard-<i>.tar: <sample>.<ext> (the original image bytes) + <sample>.json (the record)
    parquet     part-<i>.parquet: the record's fields + the image bytes (or paths, `images="paths"`)
    jsonl       ShareGPT-4o-Image / Janus-4o samples + image files
    hf          Parquet that Hugging Face `datasets.load_dataset(folder)` loads, images as `Image`

Samples are the kept rows in store order, named by their position (000000042); shard or file i holds
positions [i * shard_size, (i + 1) * shard_size). Every record carries the candidate's key, caption,
metadata (`meta`: the input's other fields), image size and format, scores, weighted score and duplicate
group. `.pixsift-manifest.json` lists every file (or image folder) with its sample count, size and
SHA-256, and every kept row that is not in the export with the reason (its bytes can no longer be read,
an edit source is missing). Nothing depends on time or the machine, so exporting the same selection
twice gives identical files. Each folder reads as it is: `pd.read_parquet`, `pyarrow.dataset` and
`datasets.load_dataset` of the folder, webdataset of its shards (a `README.md` names the data files, and
their fields, to `datasets`).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from pixsift.engine.export.base import ExportJob
from pixsift.engine.export.config import DEFAULT_SHARD_SIZE, MANIFEST, OUTPUT_KIND, ExportConfig
from pixsift.engine.export.files import FileEntry
from pixsift.engine.export.formats import WRITERS
from pixsift.engine.io.ownership import check_replaceable, claim, refusal, refuse_overlap, remove
from pixsift.engine.store.kept_rows import ExportRow, RowError, export_rows
from pixsift.engine.store.lock import writing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import kept_rows, selection_group

MANIFEST_VERSION = 1


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
    allow_partial: bool = False,
) -> ExportSummary:
    """Write the kept rows of `selection` to the folder `to` in `format` (engine.export.config)."""
    return export_config(
        ExportConfig(
            store=store_url,
            selection=selection,
            to=str(to),
            format=format,
            shard_size=shard_size,
            images=images,
            allow_partial=allow_partial,
        )
    )


def export_config(cfg: ExportConfig) -> ExportSummary:
    """The export `cfg` describes (what `pixsift export` runs)."""
    store = RunStore.open(cfg.store, read_only=True)
    store.require_scored(cfg.allow_partial)
    kept = kept_rows(store, cfg.selection)
    out = Path(cfg.to)
    refuse_overlap(cfg.to, store.url, "the run store")
    with writing(cfg.to, "export folder"):
        check_replaceable(cfg.to, OUTPUT_KIND)
        partial = _partial_folder(out, cfg)
        read_errors: list[RowError] = []
        readable = _readable(export_rows(store, cfg.selection, kept), read_errors)
        files, write_errors = WRITERS[cfg.format](
            readable, partial, ExportJob(store, kept, cfg.shard_size, cfg.images)
        )
        summary = ExportSummary(
            out, cfg.format, len(kept), files, sorted(read_errors + write_errors, key=lambda e: e.row)
        )
        _write_manifest(summary, partial, store, cfg.selection, cfg.shard_size, cfg.images)
        _replace(out, partial)
    return summary


def _readable(rows: Iterable[ExportRow], errors: list[RowError]) -> Iterator[ExportRow]:
    """The rows whose bytes were read; the others go to `errors`."""
    for row in rows:
        if row.error:
            errors.append(RowError.of(row, row.error))
        else:
            yield row


def _partial_folder(out: Path, cfg: ExportConfig) -> Path:
    """A new folder beside `out` that the export is written into, after removing those a killed export
    left (only ours: each is marked as an export); readers never see half an export."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for left in out.parent.glob(f".{out.name}.partial-*"):
        if not refusal(str(left), OUTPUT_KIND):
            remove(str(left), OUTPUT_KIND)
    partial = out.parent / f".{out.name}.partial-{uuid.uuid4().hex}"
    claim(str(partial), OUTPUT_KIND, asdict(cfg))
    return partial


def _replace(out: Path, partial: Path) -> None:
    """Put the finished export in place of `out` (a previous export there is removed after)."""
    old = out.parent / f".{out.name}.partial-{uuid.uuid4().hex}-old"
    if out.exists() and any(out.iterdir()):
        os.replace(out, old)
    elif out.exists():
        out.rmdir()
    os.replace(partial, out)
    remove(str(old), OUTPUT_KIND)


def _write_manifest(
    summary: ExportSummary, folder: Path, store: RunStore, selection: str, shard_size: int, images: str
):
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
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
