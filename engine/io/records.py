"""A caption record (a manifest row, a WebDataset .json member) to a `PlanEntry`'s caption and metadata.

The caption is the first present of `caption`, `text`, `prompt`; the metadata columns are `group`,
`task`, `category` (or Fine-T2I's `prompt_category`), `style`, `source_key` (strings; an integer is taken
as its digits) and `seed` (an integer); every other field (img2dataset's `url`, `sha256`, original sizes,
a manifest's own columns, a generated sample's provenance) is kept, as it is, in `meta`: one JSON object
(binary values as their length, NaN as null). A caption that is not text (a number, NaN, a list, a
table) is a missing caption; metadata that is not text is `bad_meta`; lone surrogates are replaced and
flagged (engine.io.text).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Mapping
from typing import Any

from pixsift.engine.core.candidates import META_FIELDS, META_STR_FIELDS, PlanEntry, failure
from pixsift.engine.io.text import as_text, clean_text

CAPTION_FIELDS = ("caption", "text", "prompt")
# An editing pair's captions of its source and its edited image, when a record gives them (kept in `meta`).
SOURCE_CAPTION_FIELDS = ("source_caption", "input_caption")
TARGET_CAPTION_FIELDS = ("target_caption", "output_caption", "edited_caption")
# A metadata column read from another field when the record lacks it: Fine-T2I's name for the category
# (what `pixsift generate` writes from a prompt pool).
META_ALIASES = {"category": "prompt_category"}
# Fields a record's own columns become, never part of `meta`.
_ENTRY_FIELDS = frozenset({"key", "image", *META_FIELDS, *META_ALIASES.values()})


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
        field = name if record.get(name) is not None or name not in META_ALIASES else META_ALIASES[name]
        meta[name], meta_error = as_text(record.get(field), field, where)
        meta_errors.append(meta_error)
    seed, seed_error = _seed(record.get("seed"), where)
    others, others_error = _others(record, where)
    first = next(
        (e for e in (error, key_error, caption_error, *meta_errors, seed_error, others_error) if e), ""
    )
    return PlanEntry(key, caption, source, offset, length, **meta, seed=seed, meta=others, error=first)


def _others(record: Mapping[str, Any], where: str) -> tuple[str, str]:
    """The fields of `record` that are not the key, the image, the caption read or a metadata column, as a
    JSON object ("" when there are none), and an error when their text held lone surrogates."""
    caption = next((name for name in CAPTION_FIELDS if record.get(name) is not None), None)
    others = {k: v for k, v in record.items() if k not in _ENTRY_FIELDS and k != caption}
    if not others:
        return "", ""
    return clean_text(json.dumps(_plain(others), ensure_ascii=False, allow_nan=False), f"{where} metadata")


def _plain(value: Any) -> Any:
    """`value` as JSON can hold it: NaN and infinities as null, bytes as their length, dates as ISO text."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes | bytearray):
        return f"<{len(value):,} bytes>"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


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


def first_text(record: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The first of `fields` that is non-empty text in `record`, or ""."""
    return next((record[f] for f in fields if isinstance(record.get(f), str) and record[f].strip()), "")
