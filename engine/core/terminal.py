"""Text from outside (captions, keys, paths, column names) made safe to print: control characters (ESC,
which starts the sequences that retitle, clear or write the clipboard of a terminal; CR, BS, DEL, the C1
range), bidirectional overrides and lone surrogates are written as `\\uXXXX`, which is also valid inside
a JSON string. Long values are cut, saying how long they were."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, the bidirectional marks, embeddings, overrides and isolates, lone surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str, limit: int | None = None) -> str:
    """`text` with every unsafe character escaped, and cut to `limit` characters when longer."""
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} characters)"
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def printable_lines(text: str) -> str:
    """Each line of a multi-line text made printable; the line breaks kept."""
    return "\n".join(printable(line) for line in text.split("\n"))
