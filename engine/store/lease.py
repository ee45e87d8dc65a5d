"""The one-writer lease of a store on object storage: `<store>.pixsift-lease`, a small JSON object holding its
holder (pid, host, command, since), a random token and a heartbeat the holder renews every sixth of
`lease_seconds()` (PIXSIFT_LEASE_SECONDS, 60 by default).

On S3 (s3fs) every change is a conditional write, so two drivers can never both hold it:
- taken by creating the object only if there is none (`If-None-Match: *`): of two drivers that start in the
  same instant exactly one create succeeds, the other reads the holder and is refused (Busy);
- renewed by replacing it only if it is still the version this holder last wrote (`If-Match: <etag>`): a
  holder whose lease was taken over (it was paused past the expiry, or cut off) fails the renewal and has
  lost it;
- taken over from a holder that stopped renewing (its heartbeat older than lease_seconds()) only by replacing
  that stale version (`If-Match`): of two drivers taking over, one wins.
Every unit a job's workers commit checks first that the lease still holds the job's token (`Fence`), so a
job that lost its lease commits nothing more and stops with one line. A unit already being written when the
lease is taken is finished: its values are those any writer computes.

Other fsspec filesystems have no conditional writes here (GCS's generation preconditions are not used yet):
the lease is written and read back, best effort, and the job says so in one line at its start.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fsspec.core import url_to_fs

from pixsift.engine.core.errors import UserError

SUFFIX = ".pixsift-lease"
CONDITIONAL = ("s3", "s3a")  # fsspec protocols whose writes pixsift makes conditional


def lease_seconds() -> float:
    """How long a lease outlives its last heartbeat (PIXSIFT_LEASE_SECONDS, default 60)."""
    return float(os.environ.get("PIXSIFT_LEASE_SECONDS", "60"))


class Busy(UserError, RuntimeError):
    """Another job is writing the store."""


class LeaseLost(UserError, RuntimeError):
    """The job's lease was taken over: it must not write the store any more."""


@dataclass(frozen=True)
class Fence:
    """What a worker checks before it commits a unit: that the store's lease still holds the job's token."""

    url: str  # the lease object
    token: str
    store: str  # how errors name the store

    def check(self) -> None:
        fs, path = url_to_fs(self.url)
        try:
            held = json.loads(fs.cat_file(path))
        except FileNotFoundError:
            held = {}
        if held.get("token") != self.token:
            taker = f"to {holder(held)}" if held else "(another job took it over, and has released it)"
            raise LeaseLost(
                self.store,
                f"this job lost its lease on the store {taker}; it commits nothing more",
                "the job that took the lease finishes the store",
            )


@contextlib.contextmanager
def leased(url: str, what: str, owner: dict[str, Any]) -> Iterator[Fence]:
    """Hold the lease of the store at `url` (an fsspec URL) while the block runs; yields its Fence."""
    fs, path = url_to_fs(url)
    lease_path = f"{path.rstrip('/')}{SUFFIX}"
    conditional = any(p in CONDITIONAL for p in _protocols(fs))
    if not conditional:
        print(
            f"pixsift: warning: {url}: this filesystem has no conditional writes, so the one-writer lease is "
            "best effort (two jobs started in the same instant could both write); safe: local paths, s3://",
            file=sys.stderr,
        )
    lease = (_ConditionalLease if conditional else _BestEffortLease)(fs, lease_path, url, what, owner)
    lease.acquire()
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(lease_seconds() / 6):
            if not lease.renew():
                print(
                    f"pixsift: {url}: this job lost its lease on the store; it commits nothing more",
                    file=sys.stderr,
                )
                return

    thread = threading.Thread(target=heartbeat, name="pixsift-lease", daemon=True)
    thread.start()
    try:
        yield Fence(fs.unstrip_protocol(lease_path), lease.token, url)
    finally:
        stop.set()
        thread.join()
        lease.release()


def holder(held: dict[str, Any]) -> str:
    """The holder a lease (or a lock file) names, in words."""
    try:
        return f"pid {held['pid']} on {held['host']} since {held['since']}: {held['command']}"
    except (KeyError, TypeError):
        return "a process that left no details"


class _Lease:
    def __init__(self, fs, path: str, url: str, what: str, owner: dict[str, Any]):
        self.fs, self.path, self.url, self.what = fs, path, url, what
        self.token = uuid.uuid4().hex
        self.owner = {**owner, "token": self.token}

    def body(self) -> bytes:
        return json.dumps({**self.owner, "heartbeat": time.time()}).encode()

    def busy(self, held: dict[str, Any]) -> Busy:
        return Busy(
            self.url,
            f"another pixsift job is writing this {self.what} ({holder(held)})",
            f"wait for it to end (its lease expires {lease_seconds():.0f} s after its last heartbeat)",
        )

    def stale(self, held: dict[str, Any]) -> bool:
        return time.time() - held.get("heartbeat", 0) >= lease_seconds()

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(self.fs.cat_file(self.path)).get("token") == self.token:
                self.fs.rm_file(self.path)


class _ConditionalLease(_Lease):
    """The lease on S3: every write conditional on the version it replaces (see the module docstring)."""

    etag = ""

    def acquire(self) -> None:
        try:
            self.etag = self.fs.pipe_file(self.path, self.body(), mode="create")["ETag"]
            return
        except FileExistsError:
            pass
        held, etag = self._read()
        if held is None:  # released between our create and our read: try once more
            return self.acquire()
        if not self.stale(held):
            raise self.busy(held)
        try:  # take over only the stale version we read
            self.etag = self.fs.pipe_file(self.path, self.body(), IfMatch=etag)["ETag"]
        except (OSError, FileNotFoundError):
            raise Busy(
                self.url,
                f"another pixsift job took this {self.what}'s stale lease first",
                "wait for it to end",
            ) from None

    def renew(self) -> bool:
        try:
            self.etag = self.fs.pipe_file(self.path, self.body(), IfMatch=self.etag)["ETag"]
            return True
        except (OSError, FileNotFoundError):
            return False

    def _read(self) -> tuple[dict[str, Any] | None, str]:
        """The lease's content and the version it was read from; (None, "") when there is none."""
        try:
            with self.fs.open(self.path, "rb", cache_type="none") as f:
                return json.loads(f.read()), f.details["ETag"]
        except FileNotFoundError:
            return None, ""


class _BestEffortLease(_Lease):
    """Written, then read back: two drivers that both read before either writes can both go on."""

    def acquire(self) -> None:
        if self.fs.exists(self.path):
            held = json.loads(self.fs.cat_file(self.path))
            if not self.stale(held):
                raise self.busy(held)
        self.fs.pipe_file(self.path, self.body())
        if json.loads(self.fs.cat_file(self.path)).get("token") != self.token:
            raise Busy(
                self.url, f"another pixsift job took this {self.what}'s lease first", "wait for it to end"
            )

    def renew(self) -> bool:
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(self.fs.cat_file(self.path)).get("token") != self.token:
                return False
        self.fs.pipe_file(self.path, self.body())
        return True


def _protocols(fs) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
