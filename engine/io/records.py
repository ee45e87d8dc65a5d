"""A caption record (a manifest row, a WebDataset .json member) to a `PlanEntry`'s caption and metadata.

The caption is the first present of `caption`, `text`, `prompt`; the metadata columns are `group`,
`task`, `category`, `style`, `source_key` (strings; an integer is taken as its digits) and `seed` (an
integer); other fields are ignored. A caption that is not text (a number, NaN, a list, a table) is a
missing caption; metadata that is not text is `bad_meta`; lone surrogates are replaced and flagged
(engine.io.text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pixsift.engine.core.candidates import META_STR_FIELDS, PlanEntry, failure
from pixsift.engine.io.text import as_text, clean_text

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
    """The entry, flagged with the first problem found: `error` as given, a bad key, a missing caption,
    bad metadata."""
    key, key_error = clean_text(str(key), f"{where} key")
    caption, caption_error = as_text(caption, "caption", where, "missing_caption", numbers=False)
    if not caption_error and not caption.strip():
        caption_error = failure(
            "missing_caption", f"{where} has no caption ({', '.join(CAPTION_FIELDS)} or .txt)"
        )
    meta, meta_errors = {}, []
    for name in META_STR_FIELDS:
        meta[name], meta_error = as_text(record.get(name), name, where)
        meta_errors.append(meta_error)
    seed, seed_error = _seed(record.get("seed"), where)
    first = next((e for e in (error, key_error, caption_error, *meta_errors, seed_error) if e), "")
    return PlanEntry(key, caption, source, offset, length, **meta, seed=seed, error=first)


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
