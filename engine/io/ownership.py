"""What pixsift made: every output folder (run store, token store, export, generate folder, report, train
out, samples, converted model) holds a marker file, `.pixsift-output.json`, saying which kind of output it
is, the command and settings that made it, and a random id. pixsift writes into, replaces or removes a
folder only when it is absent, empty, or marked as made by pixsift as that kind; anything else is refused
in one line naming it. `pixsift run` also records each output's id in its state file and removes an
output only when the marker still carries that id (engine.cli.plan).

The marker is written before anything else goes into a new folder and kept when the folder is emptied to
start over, so a job killed at any point leaves a folder the same command may take up again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from fsspec.core import url_to_fs

from pixsift.engine.core.errors import Exists
from pixsift.engine.core.settings import check_settings
from pixsift.engine.io.paths import absolute, is_local

MARKER = ".pixsift-output.json"

# The ids `pixsift run` gives the outputs of the stage it runs: {absolute path: id}.
_ASSIGNED: ContextVar[Mapping[str, str] | None] = ContextVar("pixsift_output_ids", default=None)


@contextlib.contextmanager
def assigned_ids(ids: Mapping[str, str]) -> Iterator[None]:
    """New outputs at these paths take these ids (a pipeline's state file records them first)."""
    token = _ASSIGNED.set({absolute(path).rstrip("/"): value for path, value in ids.items()})
    try:
        yield
    finally:
        _ASSIGNED.reset(token)


def new_id() -> str:
    return uuid.uuid4().hex


def made(url: str) -> dict[str, Any] | None:
    """The marker of the output at `url`: {kind, id, command, settings, made}; None where there is none
    (or it is not one of ours)."""
    fs, path = url_to_fs(absolute(url))
    try:
        marker = json.loads(fs.cat_file(f"{path.rstrip('/')}/{MARKER}"))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(marker, dict) or not all(isinstance(marker.get(k), str) for k in ("kind", "id")):
        return None
    return marker


def claim(url: str, kind: str, settings: Mapping[str, Any] | None = None) -> str:
    """Make the folder `url` an output of `kind` and return its id: refused (Exists) unless it is absent,
    empty, or marked as a `kind` already (whose marker is kept); a new or empty one gets a marker."""
    url = absolute(url)
    check_replaceable(url, kind)
    if (marker := made(url)) is not None:
        return marker["id"]
    marker = {
        "kind": kind,
        "id": (_ASSIGNED.get() or {}).get(url.rstrip("/")) or new_id(),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:2000],
        "settings": dict(settings or {}),
        "made": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_marker(url, (json.dumps(marker, indent=1, default=str) + "\n").encode())
    return marker["id"]


def claim_with_settings(folder: str, kind: str, settings: Mapping[str, Any], settings_file: str, flag: str):
    """Claim the local `folder` as a `kind` (see `claim`) that a job resumes in: a new one records `settings`
    in its `settings_file`, an existing one must have been made with the same (SettingsMismatch naming
    every difference, and that `flag` gives another folder)."""
    claim(folder, kind, settings)
    path = os.path.join(folder, settings_file)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            check_settings(f"{kind} {folder}", json.load(f), settings, f"use another {flag}")
        return
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(settings, indent=2, sort_keys=True) + "\n")


def _write_marker(url: str, data: bytes) -> None:
    """Put the marker in the folder `url` (made if absent) whole or not at all: locally it is written
    beside the folder and renamed in, so that a full disk never leaves a folder with half a marker (which
    would make it look like someone else's); an object store writes an object whole."""
    fs, path = url_to_fs(url)
    if not is_local(url):
        fs.makedirs(path, exist_ok=True)
        fs.pipe_file(f"{path.rstrip('/')}/{MARKER}", data)
        return
    parent, name = os.path.split(path.rstrip("/"))
    os.makedirs(parent, exist_ok=True)
    partial = os.path.join(parent, f".{name}{MARKER}.partial")
    try:
        with open(partial, "wb") as f:
            f.write(data)
        os.makedirs(path, exist_ok=True)
        os.replace(partial, os.path.join(path, MARKER))
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def check_replaceable(url: str, kind: str) -> None:
    """Refuse (Exists) `url` unless it is absent, an empty folder, or marked as made as a `kind`."""
    if problem := refusal(url, kind):
        raise Exists(url, f"{problem}; refusing to write into it or replace it", "use another path")


def clear(url: str, kind: str) -> None:
    """Empty the output `url` of `kind` to start it over, keeping its marker."""
    check_replaceable(url, kind)
    fs, path = url_to_fs(absolute(url))
    if fs.exists(path):
        for child in fs.ls(path, detail=False):
            if child.rstrip("/").rsplit("/", 1)[-1] != MARKER:
                fs.rm(child, recursive=True)


def remove(url: str, kind: str, id: str | None = None) -> None:
    """Remove the output `url` when its marker says pixsift made it as a `kind` (with `id`, when given);
    absent or an empty folder: left as it is; anything else is refused (Exists)."""
    if problem := refusal(url, kind, id):
        raise Exists(url, f"{problem}; refusing to remove it", "remove it yourself if it is not needed")
    if made(url) is not None:
        fs, path = url_to_fs(absolute(url))
        fs.rm(path, recursive=True)


def refusal(url: str, kind: str, id: str | None = None) -> str:
    """Why pixsift may not replace or remove `url` as an output of `kind` (made by the job `id`, when
    given); "" when it is absent, an empty folder, or marked so."""
    fs, path = url_to_fs(absolute(url))
    if not fs.exists(path):
        return ""
    if not fs.isdir(path):
        return "is a file, not a folder pixsift made"
    marker = made(url)
    if marker is None:
        return f"is not empty and was not made by pixsift (it has no {MARKER})" if fs.ls(path) else ""
    if marker["kind"] != kind:
        return f"was made by pixsift as {_a(marker['kind'])}, not {_a(kind)}"
    if id is not None and marker["id"] != id:
        mine = f"this pipeline's is {id}" if id else "this pipeline's state file records none"
        return f"was made by another pixsift job (its id is {marker['id']}; {mine})"
    return ""


def _a(kind: str) -> str:
    return f"{'an' if kind[:1] in 'aeiou' else 'a'} {kind}"


def overlaps(a: str, b: str) -> bool:
    """Whether the paths `a` and `b` are the same or one lies inside the other (links followed where
    local; URLs compared as written, with their protocol)."""
    a, b = _comparable(a), _comparable(b)
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def refuse_overlap(output: str, other: str, what: str) -> None:
    """Refuse (Exists) an `output` equal to, inside, or holding `other` (`what` names it)."""
    if overlaps(output, other):
        raise Exists(output, f"is, holds or lies inside {what} {other}", "use a path outside it")


def _comparable(path: str) -> str:
    path = absolute(path)
    return os.path.realpath(path) if is_local(path) else path.rstrip("/")
