"""The source images of editing samples: each kept row with task "edit" names its source in `source_key`,
either the key of another candidate in the same run store or an image file.

A file is found only inside the inputs the store was scored from (the folders of the input files it
planned: engine.store.input_record): a relative path is taken from the folder of the row's own image
source (a tar's folder), links are followed, and a path that leads anywhere else (`/etc/passwd`,
`../../x`) is refused, so that metadata cannot copy files from outside the inputs into a dataset. A store
candidate's bytes are checked against the content hash it was scored with.

`EditSources.find` resolves every source the selection needs in two streaming passes (the kept rows' task,
source_key and source, then the store's key column), so memory grows with the number of sources, not the
store.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

import numpy as np
from fsspec.core import url_to_fs

from pixsift.engine.core.candidates import PlanEntry, content_hash
from pixsift.engine.decode.probe import sniff_format
from pixsift.engine.io.paths import absolute, input_root, inside, is_local
from pixsift.engine.io.sources import read_candidates
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_TASK


@dataclass(frozen=True)
class SourceImage:
    data: bytes
    format: str  # sniffed from the bytes; "" when not recognised
    caption: str = ""  # a store candidate's caption; "" for a file


class EditSources:
    def __init__(self, entries: dict[str, tuple[PlanEntry, int]], refused: dict[str, str]):
        self._entries = entries  # source_key -> (where its bytes are, their content hash; 0: not checked)
        self._refused = refused  # source_key -> why it is not read

    @classmethod
    def find(cls, store: RunStore, rows: np.ndarray) -> EditSources:
        """The sources named by the edit rows among `rows` (sorted store rows)."""
        wanted = _wanted_keys(store, rows)
        entries = _store_entries(store, set(wanted))
        roots = [input_root(record["path"]) for record in store.inputs]
        refused = {}
        for key in sorted(wanted.keys() - entries.keys()):
            path = _resolve(key, wanted[key])
            if not _is_file(path):
                continue
            if is_local(path) and not inside(path, roots):
                refused[key] = "a file outside the inputs the store was scored from"
            else:
                entries[key] = (PlanEntry(key, "", path), 0)
        return cls(entries, refused)

    def read(self, source_key: str) -> SourceImage:
        """The source image's bytes; raises LookupError naming the source and why it cannot be had."""
        if source_key in self._refused:
            raise LookupError(f"edit source {source_key!r}: {self._refused[source_key]}")
        if source_key not in self._entries:
            raise LookupError(f"edit source {source_key!r}: not a key in the run store, nor an existing file")
        entry, expected = self._entries[source_key]
        candidate = next(read_candidates([entry]))
        if candidate.error:
            raise LookupError(f"edit source {source_key!r}: {candidate.error}")
        if expected and content_hash(candidate.data) != expected:
            raise LookupError(f"edit source {source_key!r}: its bytes changed since it was scored")
        return SourceImage(candidate.data, sniff_format(candidate.data), entry.caption)


def _wanted_keys(store: RunStore, rows: np.ndarray) -> dict[str, str]:
    """source_key -> the folder of the first edit row's image source that names it."""
    wanted: dict[str, str] = {}
    for unit in store.units():
        lo, hi = np.searchsorted(rows, [unit.start, unit.stop])
        local = rows[lo:hi] - unit.start
        tasks = store.arrays["task"][unit.start : unit.stop][local]
        edits = tasks == EDIT_TASK
        keys = store.arrays["source_key"][unit.start : unit.stop][local][edits].tolist()
        sources = store.arrays["source"][unit.start : unit.stop][local][edits].tolist()
        for key, source in zip(keys, sources, strict=True):
            wanted.setdefault(key, posixpath.dirname(source))
    return wanted


def _store_entries(store: RunStore, wanted: set[str]) -> dict[str, tuple[PlanEntry, int]]:
    entries: dict[str, tuple[PlanEntry, int]] = {}
    for unit in store.units() if wanted else []:
        rows = slice(unit.start, unit.stop)
        keys = store.arrays["key"][rows].tolist()
        found = [i for i, key in enumerate(keys) if key in wanted and key not in entries]
        if not found:
            continue
        where = {
            name: store.arrays[name][rows][found].tolist()
            for name in ("caption", "source", "offset", "length")
        }
        hashes = store.arrays["content_hash"][rows][found].tolist()
        for i, caption, source, offset, length, digest in zip(found, *where.values(), hashes, strict=True):
            entries.setdefault(keys[i], (PlanEntry(keys[i], caption, source, offset, length), digest))
    return entries


def _resolve(key: str, folder: str) -> str:
    """A path-like source key as an absolute path: relative ones from `folder`."""
    if "://" in key or os.path.isabs(key):
        return absolute(key)
    return absolute(posixpath.join(folder, key))


def _is_file(path: str) -> bool:
    try:
        fs, fs_path = url_to_fs(path)
        return fs.isfile(fs_path)
    except (ValueError, ImportError, OSError):  # not a path or URL any filesystem knows
        return False
