"""Plan entries of one WebDataset tar shard, from its headers: image payloads are seeked over, never read.

Samples follow webdataset's rules: consecutive members sharing a key (the member name up to the first
dot of its base name) form a sample, a repeated extension starts a new one, and `__name__` members
are skipped. The image is the sample's first member with an image extension; the caption is the .txt
member, else the `caption`/`text`/`prompt` field of the .json member, whose other fields give the
metadata (see engine.io.records).

Keys are `<shard>/<sample key>`, shard being the tar file's name without `.tar`: unique across a
pool as long as shard names are (scan checks that), without holding all keys in memory. A key seen
twice in one shard (a sample split by other members) gets `#<n>` appended and a `duplicate_key` error.
"""

from __future__ import annotations

import posixpath
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from pixsift.engine.core.candidates import PlanEntry, failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.paths import open_binary
from pixsift.engine.io.records import caption_of, make_entry
from pixsift.engine.io.text import decode_utf8, parse_json

IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "jp2", "ppm", "pgm", "pnm"}
)
_KEY_AND_EXTENSION = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")
_META_MEMBER = re.compile(r"__[^/]*__($|/)")
_BLOCK = tarfile.BLOCKSIZE


@dataclass
class _Sample:
    key: str
    members: dict[str, tarfile.TarInfo] = field(default_factory=dict)


def shard_name(path: str) -> str:
    name = posixpath.basename(path.rstrip("/"))
    return name[: -len(".tar")] if name.endswith(".tar") else name


def scan_tar(path: str) -> Iterator[PlanEntry]:
    shard = shard_name(path)
    with open_binary(path) as f:
        try:
            tar = tarfile.open(fileobj=f, mode="r:")
        except tarfile.ReadError as e:
            raise BadInput(path, f"not an uncompressed tar file ({e})", "shards must be plain .tar") from e
        seen: dict[str, int] = {}
        for sample in _samples(tar, path):
            yield _entry(tar, sample, shard, path, seen)
        if damage := _damage_after_last_member(f, tar):
            yield PlanEntry(
                f"{shard}/#damaged-at-{tar.offset}",
                "",
                path,
                tar.offset,
                0,
                error=failure(
                    "bad_tar", f"{path}: {damage} at byte {tar.offset}; members after it are not listed"
                ),
            )


def _samples(tar: tarfile.TarFile, path: str) -> Iterator[_Sample]:
    current: _Sample | None = None
    for info in _file_members(tar):
        match = _KEY_AND_EXTENSION.match(info.name)
        if not match or _META_MEMBER.match(info.name):
            continue
        key, extension = match.group(1), match.group(2).lower()
        if current is None or key != current.key or extension in current.members:
            if current is not None:
                yield current
            current = _Sample(key)
        current.members[extension] = info
    if current is not None:
        yield current


def _file_members(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    while True:
        try:
            info = tar.next()
        except tarfile.ReadError:
            return  # a truncated payload: _damage_after_last_member reports it
        if info is None:
            return
        tar.members.clear()  # only the current header is needed, and a shard may hold millions
        if info.isfile() or info.issym() or info.islnk():  # links get a row saying so (_entry)
            yield info


def _damage_after_last_member(f, tar: tarfile.TarFile) -> str:
    """Why listing stopped before the end of the archive, or "" when it reached the end marker.

    tarfile ends its listing silently at a corrupt header; a block that is not the zero end marker
    tells that members may follow.
    """
    f.seek(tar.offset)
    block = f.read(_BLOCK)
    if not block and tar.offset > 0:
        f.seek(tar.offset - 1)
        return "" if f.read(1) else "file ends inside a member's data"
    return "invalid tar header" if block.strip(b"\0") else ""


def _entry(tar: tarfile.TarFile, sample: _Sample, shard: str, path: str, seen: dict[str, int]) -> PlanEntry:
    where = f"{path}:{sample.key}"
    key = f"{shard}/{sample.key}"
    error = ""
    if seen.setdefault(sample.key, 0):
        error = failure("duplicate_key", f"{where} appears again (its members are not contiguous)")
        key = f"{key}#{seen[sample.key] + 1}"
    seen[sample.key] += 1

    links = [
        f"{sample.key}.{ext} -> {info.linkname}" for ext, info in sample.members.items() if not info.isfile()
    ]
    if links:
        error = error or failure("link_member", f"{path}: {', '.join(links)}: links are not read")
        return make_entry(key, None, path, 0, 0, {}, where, error)
    record, caption, text_error = _caption_record(tar, sample, where)
    image = next((info for ext, info in sample.members.items() if ext in IMAGE_EXTENSIONS), None)
    if image is None:
        error = error or failure(
            "missing_image", f"{where} has no image member (has: {', '.join(sample.members)})"
        )
        return make_entry(key, caption, path, 0, 0, record, where, error)
    return make_entry(key, caption, path, image.offset_data, image.size, record, where, error or text_error)


def _caption_record(tar: tarfile.TarFile, sample: _Sample, where: str) -> tuple[dict, str | None, str]:
    """The .json record, the caption and the first error reading them."""
    record: dict = {}
    error = ""
    if "json" in sample.members:
        raw, error = _read(tar, sample.members["json"], f"{where}.json")
        text, utf8_error = decode_utf8(raw, f"{where}.json")
        record, json_error = parse_json(text, f"{where}.json")
        error = error or utf8_error or json_error
        if not isinstance(record, dict):
            error, record = error or failure("bad_json", f"{where}.json is not a JSON object"), {}
    caption = caption_of(record)
    if "txt" in sample.members:
        raw, read_error = _read(tar, sample.members["txt"], f"{where}.txt")
        caption, utf8_error = decode_utf8(raw, f"{where}.txt")
        error = error or read_error or utf8_error
    return record, caption, error


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo, where: str) -> tuple[bytes, str]:
    try:
        return tar.extractfile(info).read(), ""
    except tarfile.ReadError as e:
        return b"", failure("bad_tar", f"{where}: {e}")
