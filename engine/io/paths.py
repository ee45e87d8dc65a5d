"""Input patterns to concrete paths: brace patterns (`shard-{00000..00099}.tar`, `{a,b}`) and globs.

Local paths come back absolute and URLs keep their protocol, so a path means the same file in
every worker, whatever its working directory.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import fsspec
from fsspec.core import url_to_fs

from pixsift.engine.core.errors import BadInput, NotFound

# A store on object storage is written by other processes (workers, Ray actors, another driver) while this
# one reads it: a cached listing would hide their markers and objects. Settings a user gave win.
for _protocol in ("s3", "gcs"):
    fsspec.config.conf.setdefault(_protocol, {}).setdefault("use_listings_cache", False)

PARTIAL = ".partial"  # the suffix of write_through_partial's temporary files
_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")
_GLOB_CHARS = re.compile(r"[*?\[]")


def expand_inputs(inputs: list[str]) -> list[str]:
    """Every path the inputs name, in the given order; braces in order of their alternatives, globs sorted.
    A local path that does not exist, or a pattern that matches nothing, is an error naming it."""
    paths: list[str] = []
    for pattern in inputs:
        for path in expand_braces(pattern):
            paths.extend(_glob(path) if _GLOB_CHARS.search(path) else [_existing(path)])
    return paths


def expand_braces(pattern: str) -> list[str]:
    """Bash-style brace expansion: `{0..3}` and zero-padded `{000..003}` ranges, `{a,b}` lists, nested."""
    start = pattern.find("{")
    if start < 0:
        return [pattern]
    end = _matching_brace(pattern, start)
    body, head, tail = pattern[start + 1 : end], pattern[:start], pattern[end + 1 :]
    if match := _RANGE.match(body):
        alternatives = _number_range(*match.groups())
    else:
        alternatives = _split_top_level(body)
        if len(alternatives) < 2:
            raise BadInput(pattern, "braces must hold a range a..b or a list a,b")
    return [path for alt in alternatives for path in expand_braces(head + alt + tail)]


def absolute(path: str) -> str:
    """A local path made absolute (a `file://` URL becomes a plain path); any other URL unchanged."""
    if path.startswith("file://"):
        path = path[len("file://") :]
    return path if "://" in path else os.path.abspath(path)


def is_local(path: str) -> bool:
    return "://" not in path


def input_root(pattern: str) -> str:
    """The folder an input (a path or pattern, as given) draws from: the folder itself, or the folder of
    its files, up to the first brace or glob character. Files named by metadata must lie inside it."""
    path = absolute(pattern)
    if not is_local(path):
        return path
    cut = min((i for i, c in enumerate(path) if c in "{*?["), default=len(path))
    fixed = path[:cut]
    if cut == len(path) and os.path.isdir(path):
        return os.path.realpath(path)
    return os.path.realpath(os.path.dirname(fixed) if not fixed.endswith("/") else fixed)


def inside(path: str, roots: list[str]) -> bool:
    """Whether the local `path`, its links followed, lies inside one of the local folders `roots`."""
    real = os.path.realpath(absolute(path))
    return any(os.path.commonpath([real, root]) == root for root in roots if is_local(root))


def _existing(path: str) -> str:
    found = absolute(path)
    if is_local(found) and not os.path.exists(found):
        raise NotFound(path, "no such file or folder", "check the --input paths")
    return found


def _glob(pattern: str) -> list[str]:
    path = absolute(pattern)
    fs, fs_pattern = url_to_fs(path)
    matches = sorted(fs.glob(fs_pattern))
    if not matches:
        raise NotFound(pattern, "the pattern matches no file")
    return matches if is_local(path) else [fs.unstrip_protocol(m) for m in matches]


def _matching_brace(pattern: str, start: int) -> int:
    depth = 0
    for i in range(start, len(pattern)):
        depth += {"{": 1, "}": -1}.get(pattern[i], 0)
        if depth == 0:
            return i
    raise BadInput(pattern, "unmatched '{'")


def _split_top_level(body: str) -> list[str]:
    parts, depth, begin = [], 0, 0
    for i, char in enumerate(body):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(body[begin:i])
            begin = i + 1
    return [*parts, body[begin:]]


def _number_range(first: str, last: str) -> list[str]:
    padded = any(len(s.lstrip("-")) > 1 and s.lstrip("-").startswith("0") for s in (first, last))
    width = max(len(first), len(last)) if padded else 0
    a, b = int(first), int(last)
    step = 1 if b >= a else -1
    return [str(n).zfill(width) for n in range(a, b + step, step)]


def open_binary(path: str):
    """An fsspec file opened for reading bytes (seekable: range reads fetch only what they need)."""
    try:
        return fsspec.open(path, "rb").open()
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{path} does not exist") from e


def write_through_partial(path: Path, write: Callable[[Path], None]) -> None:
    """Write the local file `path` by `write(partial)` under a hidden temporary name of its own (two attempts
    at one file, a retry and the lost worker it replaces, never share one), synced, then renamed over
    `path`: a reader, or a job resumed after a kill, sees a whole file or none."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}{PARTIAL}")
    write(partial)
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
    os.replace(partial, path)


def remove_partials(folder: Path, names: str = "*") -> int:
    """Delete the temporary files `write_through_partial` left in `folder` for files named `names` (a
    glob) when a job was killed; how many there were."""
    partials = list(folder.glob(f".{names}.*{PARTIAL}"))
    for path in partials:
        path.unlink()
    return len(partials)


def write_whole(path: str | os.PathLike, data: str | bytes) -> None:
    """Write a local file whole: beside it under a temporary name, then renamed over it, so a reader (or
    a job killed mid-write) sees the old content or the new, never part of it."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    if isinstance(data, str):
        partial.write_text(data, encoding="utf-8")
    else:
        partial.write_bytes(data)
    os.replace(partial, path)
