"""A caption record (a manifest row, a WebDataset .json member) to a `PlanEntry`'s caption and metadata.

The caption is the first present of `caption`, `text`, `prompt`; the metadata columns are `group`,
`task`, `category`, `style`, `source_key` (kept as strings) and `seed` (an integer); other fields are
ignored. Text that is not valid UTF-8 is kept with U+FFFD in place of the bad bytes, and flagged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.candidates import META_STR_FIELDS, PlanEntry, failure

CAPTION_FIELDS = ("caption", "text", "prompt")


def caption_of(record: Mapping[str, Any]) -> Any:
    return next((record[name] for name in CAPTION_FIELDS if record.get(name) is not None), None)


def make_entry(
    key: str,
    caption: Any,
    source: str,
    offset: int,
    length: int,
    record: Mapping[str, Any],
    where: str,
    error: str = "",
) -> PlanEntry:
    """The entry, flagged with the first problem found: `error` as given, a missing caption, bad metadata."""
    caption = "" if caption is None else str(caption)
    if not error and not caption.strip():
        error = failure("missing_caption", f"{where} has no caption ({', '.join(CAPTION_FIELDS)} or .txt)")
    seed, seed_error = _seed(record.get("seed"), where)
    meta = {name: "" if record.get(name) is None else str(record[name]) for name in META_STR_FIELDS}
    return PlanEntry(key, caption, source, offset, length, **meta, seed=seed, error=error or seed_error)


def _seed(value: Any, where: str) -> tuple[int, str]:
    if value is None or value == "":
        return -1, ""
    try:
        seed = int(value)
        # An int compares exactly; float(value) would round seeds above 2**53 and refuse them.
        whole = isinstance(value, int) or seed == float(value)
        if whole and -(2**63) <= seed < 2**63:
            return seed, ""
    except (TypeError, ValueError, OverflowError):
        pass
    return -1, failure("bad_meta", f"{where}: seed {value!r} is not a 64-bit integer")
