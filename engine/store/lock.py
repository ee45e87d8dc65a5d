"""One writer per store: a lock that a job's driver holds from before planning to its end.

On a local filesystem it is an advisory `flock` on a small file beside the store (`.<name>.pixsift-lock`,
outside the store so that replacing the store cannot remove it), which the operating system releases when
its process ends, however it ends: a lock left by a killed job is taken over by the next one. Elsewhere
(an fsspec URL) it is a lease object beside the store, `<name>.pixsift-lease`, holding its owner and a
heartbeat the holder renews; a lease whose heartbeat is older than LEASE_SECONDS was left by a job that is
gone and is taken over. Workers (processes, Ray actors) write units without taking it: the driver holds it
for them. The file records who holds it, so a second writer is refused naming the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fsspec.core import url_to_fs

from pixsift.engine.core.errors import UserError
from pixsift.engine.io.paths import absolute, is_local

LEASE_SECONDS = 60.0
HEARTBEAT_SECONDS = 10.0


class Busy(UserError, RuntimeError):
    """Another job is writing the store."""


@contextlib.contextmanager
def writing(url: str, what: str) -> Iterator[None]:
    """Hold the one-writer lock of the store (or output folder) at `url`; `what` names it in errors."""
    url = absolute(url)
    with _local_lock(url, what) if is_local(url) else _lease(url, what):
        yield


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200],
    }


def _holder(info: str) -> str:
    try:
        owner = json.loads(info)
        return f"pid {owner['pid']} on {owner['host']} since {owner['since']}: {owner['command']}"
    except (ValueError, KeyError, TypeError):
        return "a process that left no details"


@contextlib.contextmanager
def _local_lock(path: str, what: str) -> Iterator[None]:
    parent, name = os.path.split(path.rstrip("/"))
    os.makedirs(parent, exist_ok=True)
    fd = os.open(os.path.join(parent, f".{name}.pixsift-lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            raise Busy(
                path,
                f"another pixsift job is writing this {what} ({_holder(held)})",
                "wait for it to end, or use another path",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_owner()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _lease(url: str, what: str) -> Iterator[None]:
    fs, path = url_to_fs(url)
    lease = f"{path.rstrip('/')}.pixsift-lease"
    token = uuid.uuid4().hex
    now = time.time()
    if fs.exists(lease):
        held = json.loads(fs.cat_file(lease))
        if now - held.get("heartbeat", 0) < LEASE_SECONDS:
            raise Busy(
                url,
                f"another pixsift job is writing this {what} ({_holder(json.dumps(held))})",
                f"wait for it to end (its lease expires {LEASE_SECONDS:.0f} s after its last heartbeat)",
            )
    stop, owner = threading.Event(), {**_owner(), "token": token}

    def beat() -> None:
        fs.pipe_file(lease, json.dumps({**owner, "heartbeat": time.time()}).encode())

    beat()
    if json.loads(fs.cat_file(lease)).get("token") != token:  # another job took it in the same instant
        raise Busy(url, f"another pixsift job took this {what}'s lease first", "wait for it to end")

    def heartbeat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            beat()

    thread = threading.Thread(target=heartbeat, name="pixsift-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        with contextlib.suppress(FileNotFoundError):
            if json.loads(fs.cat_file(lease)).get("token") == token:
                fs.rm_file(lease)
