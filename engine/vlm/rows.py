"""The rows of a work unit that a vision-language stage annotates, read, decoded and batched by image size.

A row is annotated when it was scored `ok`, is kept by the selection asked for (if any) and is of the task
the stage judges (if it judges one); every other row is skipped, saying why. Rows are read front to back
(tar members in order), a window of a few batches at a time, and each window is batched by pixel count,
so that a batch's images are alike in size (the processors of Qwen2.5-VL and LLaVA-OneVision give an image
as many tokens as its size asks for, and a batch pads to its largest). An image that cannot be read fails
its row; so does an edit whose source cannot be had.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from pixsift.engine.core.candidates import failure
from pixsift.engine.decode.pil import rgb_or_reason
from pixsift.engine.decode.probe import probe
from pixsift.engine.io.sources import read_candidates
from pixsift.engine.store.edit_sources import EditSources
from pixsift.engine.store.kept_rows import changed_since_scored
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_TASK
from pixsift.engine.store.selection import selection_group
from pixsift.engine.store.unit_job import Batch
from pixsift.engine.store.unit_store import Unit

WINDOW_BATCHES = 8
_SCORED = ("status", "error", "width", "height", "content_hash")  # what a unit's rows are read and sorted by


@dataclass
class RowBatch(Batch):
    positions: list[int] = field(default_factory=list)  # rows of the unit (0: its first)
    captions: list[str] = field(default_factory=list)
    images: list[dict[str, Image.Image]] = field(default_factory=list)  # "image", and "source" for edits
    failed: dict[int, str] = field(default_factory=dict)  # position -> why it could not be read
    skipped: dict[int, str] = field(default_factory=dict)  # position -> why it is not annotated


class UnitRows:
    """Reads the rows to annotate of a run store's units. `task`: "t2i", "edit", or None for every task."""

    def __init__(
        self, run: RunStore, selection: str | None, task: str | None, batch_size: int, max_bytes: int
    ):
        self.run, self.selection, self.task = run, selection, task
        self.batch_size, self.max_bytes = batch_size, max_bytes
        self.kept = selection_group(run, selection)["kept"] if selection else None
        self.sources = EditSources.find(run, self._edit_rows()) if task == EDIT_TASK else None

    def batches(self, unit: Unit) -> Iterator[RowBatch]:
        """The unit's first batch says which rows are skipped; then the rows to annotate in batches."""
        started = time.perf_counter()
        rows = slice(unit.start, unit.stop)
        plan = self.run.read_plan(unit)
        scored = {name: self.run.arrays[name][rows] for name in _SCORED}
        wanted, skipped = self._eligible(unit, plan, scored)
        yield RowBatch(0, {"read": time.perf_counter() - started}, skipped=skipped)
        done = len(skipped)
        pixels = scored["width"].astype(np.int64) * scored["height"]
        window = self.batch_size * WINDOW_BATCHES
        for lo in range(0, len(wanted), window):
            started = time.perf_counter()
            chosen = wanted[lo : lo + window]
            read = self._read([plan[i] for i in chosen], chosen, scored["content_hash"])
            seconds = (time.perf_counter() - started) / max(1, len(chosen))
            by_size = sorted(read, key=lambda row: pixels[row[0]])
            for start in range(0, len(by_size), self.batch_size):
                part = by_size[start : start + self.batch_size]
                batch = RowBatch(done, {"read": seconds * len(part)})
                for position, caption, images, error in part:
                    if error:
                        batch.failed[position] = error
                    else:
                        batch.positions.append(position)
                        batch.captions.append(caption)
                        batch.images.append(images)
                done += len(part)
                yield batch

    def _eligible(self, unit: Unit, plan, scored) -> tuple[list[int], dict[int, str]]:
        kept = self._kept(unit)
        wanted, skipped = [], {}
        for i, entry in enumerate(plan):
            if scored["status"][i] != "ok":
                skipped[i] = failure("not_scored", scored["error"][i] or "the row is not scored")
            elif not kept[i]:
                skipped[i] = failure("not_selected", f"not kept by selection {self.selection!r}")
            elif self.task is not None and (entry.task == EDIT_TASK) != (self.task == EDIT_TASK):
                skipped[i] = failure("other_task", f"task {entry.task!r}; the rubric judges {self.task} rows")
            else:
                wanted.append(i)
        return wanted, skipped

    def _kept(self, unit: Unit) -> np.ndarray:
        if self.kept is None:
            return np.ones(unit.rows, dtype=bool)
        found = np.zeros(unit.rows, dtype=bool)  # rows planned after the selection was made are not in it
        stop = min(unit.stop, self.kept.shape[0])
        if stop > unit.start:
            found[: stop - unit.start] = self.kept[unit.start : stop]
        return found

    def _read(self, entries, positions: list[int], hashes: np.ndarray):
        """(position, caption, images, error) per row."""
        read = []
        for position, candidate in zip(positions, read_candidates(entries, self.max_bytes), strict=True):
            error = candidate.error or changed_since_scored(candidate, int(hashes[position]))
            images = {}
            if not error:
                images["image"], error = decoded(candidate.data)
            if not error and self.sources is not None:
                images["source"], error = self._source(candidate.source_key)
            read.append((position, candidate.caption, images, error))
        return read

    def _source(self, key: str) -> tuple[Image.Image | None, str]:
        try:
            return decoded(self.sources.read(key).data)
        except LookupError as e:
            return None, failure("source", str(e).strip("'\""))

    def _edit_rows(self) -> np.ndarray:
        edits = [
            np.flatnonzero(self.run.arrays["task"][u.start : u.stop] == EDIT_TASK) + u.start
            for u in self.run.units()
        ]
        return np.concatenate(edits) if edits else np.zeros(0, dtype=np.int64)


def decoded(data: bytes) -> tuple[Image.Image | None, str]:
    """The image as 8-bit RGB (engine.decode.pil's rules), or why it cannot be decoded."""
    rgb, error = rgb_or_reason(data, probe(data))
    return (None, failure("decode", error)) if error else (Image.fromarray(rgb), "")
