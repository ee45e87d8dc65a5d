"""One writer per store: a lock that a job's driver holds from before planning to its end.

On a local filesystem it is an advisory `flock` on a small file beside the store (`.<name>.pixsift-lock`,
outside the store so that replacing the store cannot remove it), which the operating system releases when
its process ends, however it ends: a lock left by a killed job is taken over by the next one. Elsewhere
(an fsspec URL) it is a lease object beside the store, `<name>.pixsift-lease` (engine.store.lease:
conditional writes on S3). Workers (processes, Ray actors) write units without taking it: the driver holds
it for them, and on object storage they check it before each commit. The file records who holds it, so a
second writer is refused naming the first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

from pixsift.engine.io.paths import absolute, is_local
from pixsift.engine.store.lease import Busy, Fence, holder, leased

__all__ = ["Busy", "Fence", "writing"]


@contextlib.contextmanager
def writing(url: str, what: str) -> Iterator[Fence | None]:
    """Hold the one-writer lock of the store (or output folder) at `url`; `what` names it in errors. Yields
    the Fence that workers check before each commit on object storage (engine.store.lease), or None where
    the operating system's lock is enough."""
    url = absolute(url)
    if is_local(url):
        with _local_lock(url, what):
            yield None
    else:
        with leased(url, what, _owner()) as fence:
            yield fence


def _owner() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200],
    }


def _holder(info: str) -> str:
    try:
        return holder(json.loads(info))
    except ValueError:
        return holder({})


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
