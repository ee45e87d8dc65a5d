"""What every export layout is: a writer of the kept rows, in store order with their bytes, into a folder.

A writer is called as `write(rows, out, job)` and returns the files it wrote (with checksums) and the rows
it had to leave out with the reason; `job` says which store, rows and options. Each format is a module of
engine.export.formats, named as the format.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from pixsift.engine.export.files import FileEntry
from pixsift.engine.store.kept_rows import ExportRow, RowError
from pixsift.engine.store.run_store import RunStore


@dataclass(frozen=True)
class ExportJob:
    store: RunStore
    kept: np.ndarray  # the kept store rows, ascending
    shard_size: int  # samples per shard, file or image folder
    images: str  # parquet: "bytes" in the file or "paths" to image files


class Writer(Protocol):
    def __call__(
        self, rows: Iterable[ExportRow], out: Path, job: ExportJob
    ) -> tuple[list[FileEntry], list[RowError]]: ...
