"""Text from outside, made safe to store: UTF-8 decoded with any byte-order mark dropped, lone surrogates
(which JSON escapes can carry, and no store can encode) replaced, and JSON parsed with a nesting limit.

Each function returns the value and an error "kind: detail" naming `where` ("" when there is none), so
that the row keeps its place with the reason instead of stopping the job.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pixsift.engine.core.candidates import failure

BOM = "\ufeff"
MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def decode_utf8(raw: bytes, where: str) -> tuple[str, str]:
    """The text and "" when `raw` is valid UTF-8 (a leading byte-order mark dropped); else the text with
    U+FFFD in place of the bad bytes, and the error."""
    try:
        text, error = raw.decode("utf-8"), ""
    except UnicodeDecodeError as e:
        text = raw.decode("utf-8", "replace")
        error = failure("bad_utf8", f"{where} is not valid UTF-8 (byte {e.start})")
    return text.removeprefix(BOM), error


def clean_text(text: str, where: str) -> tuple[str, str]:
    """`text` with lone surrogates replaced by U+FFFD, and an error when there were any."""
    if not _SURROGATE.search(text):
        return text, ""
    return _SURROGATE.sub("\ufffd", text), failure("bad_utf8", f"{where} holds a lone surrogate (\\u escape)")


def parse_json(text: str, where: str) -> tuple[Any, str]:
    """The JSON value in `text`, or (None, error) for text that is not JSON or nests deeper than
    MAX_JSON_DEPTH (which Python's parser would meet with a RecursionError)."""
    if _depth(text) > MAX_JSON_DEPTH:
        return None, failure("bad_json", f"{where} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text), ""
    except (json.JSONDecodeError, RecursionError) as e:
        return None, failure("bad_json", f"{where} is not JSON: {e}")


def as_text(
    value: Any, what: str, where: str, kind: str = "bad_meta", numbers: bool = True
) -> tuple[str, str]:
    """A caption or metadata value as text: a string (cleaned), an integer as its digits when `numbers`;
    "" for no value (None, NaN); anything else (a list, a table, a float, a bool) is "" and an error of
    `kind` naming it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "", ""
    if isinstance(value, str):
        return clean_text(value, f"{where} {what}")
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value), ""
    shown = repr(value)[:40]
    return "", failure(kind, f"{where}: {what} is a {type(value).__name__} ({shown}), not text")


def _depth(text: str) -> int:
    """How deep brackets nest outside strings (a quick count when they cannot nest deeper than the limit)."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest
