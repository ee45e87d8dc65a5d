"""What flows through the engine: a planned candidate (`PlanEntry`) and one with its bytes (`Candidate`).

Every image is addressed as (source, offset, length): a tar member is its tar file's path or URL with
the member's data offset and size; a loose file is its path or URL with offset 0 and length -1 (read
to the end). Errors are strings "kind: detail" (see `failure`), so reports can count them by kind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

WHOLE_FILE = -1
META_STR_FIELDS = ("group", "task", "category", "style", "source_key")
META_FIELDS = (*META_STR_FIELDS, "seed")


@dataclass(frozen=True)
class PlanEntry:
    key: str
    caption: str
    source: str
    offset: int = 0
    length: int = WHOLE_FILE
    group: str = ""  # candidates of one prompt, for best-of-N selection
    task: str = ""
    category: str = ""
    style: str = ""
    source_key: str = ""  # the candidate's id in the dataset it came from
    seed: int = -1
    meta: str = (
        ""  # the sample's other metadata (img2dataset's url, sha256, ...) as a JSON object; "" if none
    )
    error: str = ""  # why the candidate is known bad at scan time; "" when it is not


@dataclass(frozen=True)
class Candidate(PlanEntry):
    data: bytes = b""

    @classmethod
    def of(cls, entry: PlanEntry, data: bytes = b"", error: str = "") -> Candidate:
        values = {f.name: getattr(entry, f.name) for f in fields(PlanEntry)}
        values["error"] = entry.error or error
        return cls(**values, data=data)


def failure(kind: str, detail: str) -> str:
    """A row's error, "kind: detail"; a detail past MAX_DETAIL characters (a binary value read as a path,
    say) is cut, saying how long it was."""
    if len(detail) > MAX_DETAIL:
        detail = f"{detail[:MAX_DETAIL]}… ({len(detail):,} characters)"
    return f"{kind}: {detail}"


MAX_DETAIL = 500


def error_kind(error: str) -> str:
    """The kind of a `failure` string; "" for no error."""
    return error.split(":", 1)[0].strip()


def content_hash(data: bytes) -> int:
    """The 64-bit BLAKE2b digest of `data` as a signed int64: the exact-duplicate key, and the check that an
    image is still the one that was scored."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def parts_hash(*parts: object) -> int:
    """`content_hash` of the parts' text joined by NUL: a stable id, or a seed, from several keys (a pair's
    source and instruction, an image's base seed, prompt id and index, ...). Signed; mask it for a seed."""
    return content_hash("\0".join(map(str, parts)).encode())
