"""The source images of editing samples: each kept row with task "edit" names its source in `source_key`,
either the key of another candidate in the same run store or an image path or URL.

`EditSources.find` resolves every source the selection needs in two streaming passes (the kept rows' task
and source_key, then the store's key column), so memory grows with the number of sources, not the store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fsspec.core import url_to_fs

from engine.core.candidates import PlanEntry
from engine.decode.probe import sniff_format
from engine.io.paths import absolute
from engine.io.sources import read_candidates
from engine.store.run_store import RunStore
from engine.store.schema import EDIT_TASK


@dataclass(frozen=True)
class SourceImage:
    data: bytes
    format: str  # sniffed from the bytes; "" when not recognised


class EditSources:
    def __init__(self, entries: dict[str, PlanEntry]):
        self._entries = entries

    @classmethod
    def find(cls, store: RunStore, rows: np.ndarray) -> EditSources:
        """The sources named by the edit rows among `rows` (sorted store rows)."""
        wanted = _wanted_keys(store, rows)
        entries = _store_entries(store, wanted)
        for key in sorted(wanted - entries.keys()):
            if _is_file(key):
                entries[key] = PlanEntry(key, "", absolute(key))
        return cls(entries)

    def read(self, source_key: str) -> SourceImage:
        """The source image's bytes; raises LookupError naming the source and why it cannot be had."""
        entry = self._entries.get(source_key)
        if entry is None:
            raise LookupError(f"edit source {source_key!r}: not a key in the run store, nor an existing file")
        candidate = next(read_candidates([entry]))
        if candidate.error:
            raise LookupError(f"edit source {source_key!r}: {candidate.error}")
        return SourceImage(candidate.data, sniff_format(candidate.data))


def _wanted_keys(store: RunStore, rows: np.ndarray) -> set[str]:
    wanted = set()
    for unit in store.units():
        lo, hi = np.searchsorted(rows, [unit.start, unit.stop])
        local = rows[lo:hi] - unit.start
        tasks = store.arrays["task"][unit.start : unit.stop][local]
        keys = store.arrays["source_key"][unit.start : unit.stop][local]
        wanted.update(keys[tasks == EDIT_TASK].tolist())
    return wanted


def _store_entries(store: RunStore, wanted: set[str]) -> dict[str, PlanEntry]:
    entries: dict[str, PlanEntry] = {}
    for unit in store.units() if wanted else []:
        rows = slice(unit.start, unit.stop)
        keys = store.arrays["key"][rows].tolist()
        found = [i for i, key in enumerate(keys) if key in wanted and key not in entries]
        if not found:
            continue
        where = {name: store.arrays[name][rows][found].tolist() for name in ("source", "offset", "length")}
        for i, source, offset, length in zip(found, *where.values(), strict=True):
            entries.setdefault(keys[i], PlanEntry(keys[i], "", source, offset, length))
    return entries


def _is_file(path: str) -> bool:
    try:
        fs, fs_path = url_to_fs(path)
        return fs.isfile(fs_path)
    except (ValueError, ImportError, OSError):  # not a path or URL any filesystem knows
        return False
