"""What the prompt filters (Fine-T2I's prompt quality, SynthVLM's caption curation) share: a step that keeps
each row by its caption alone, read CHUNK_ROWS at a time."""

from __future__ import annotations

import numpy as np

from pixsift.engine.select.steps.base import ColumnReader, StepResult, WholeSetStep

CHUNK_ROWS = 65536
REPLACEMENT_CHARACTER = "\ufffd"


class CaptionFilter(WholeSetStep):
    """A step that keeps each row by looking at its caption alone."""

    def keeps(self, caption: str) -> bool:
        raise NotImplementedError

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult:
        keep = np.ones(len(rows), dtype=bool)
        for start in range(0, len(rows), CHUNK_ROWS):
            captions = read("caption", rows[start : start + CHUNK_ROWS])
            keep[start : start + len(captions)] = [self.keeps(str(caption)) for caption in captions]
        return StepResult(keep)


def strings(step: str, key: str, values) -> tuple[str, ...]:
    """A list from a spec as a tuple; a lone string would otherwise be read as its characters."""
    if isinstance(values, str):
        raise TypeError(f"{step}: {key} must be a list of strings, not the string {values!r}")
    return tuple(values)


def within(value: int, low: int, high: int | None) -> bool:
    return value >= low and (high is None or value <= high)
