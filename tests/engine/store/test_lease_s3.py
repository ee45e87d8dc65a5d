"""The one-writer lease on a real S3 API (moto's server on 127.0.0.1, s3fs): two drivers started in the same
instant never both hold it, a renewal after a takeover fails, a stale lease is taken over once, and a driver
paused past its lease commits nothing more while the taker finishes the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import fsspec
import pytest

from pixsift.engine.store.lease import Busy, LeaseLost, leased
from pixsift.engine.store.lock import writing

OWNER = {"pid": 1, "host": "test", "since": "now", "command": "test"}

# A driver that takes the lease at the instant T0 and holds it until its stdin closes, then exits 0; or
# exits 2 with the line that refused it.
DRIVER = textwrap.dedent("""
    import sys, time
    from pixsift.engine.store.lock import writing
    from pixsift.engine.store.lease import Busy
    url, start = sys.argv[1], float(sys.argv[2])
    time.sleep(max(0.0, start - time.time()))
    try:
        with writing(url, "run store"):
            sys.stdin.read()
    except Busy as e:
        print(e, file=sys.stderr)
        sys.exit(2)
""")


def test_two_drivers_started_in_the_same_instant_never_both_write(bucket):
    for attempt in range(20):
        url = f"{bucket}/race-{attempt}.zarr"
        start = time.time() + 1.0  # both processes are up by then
        drivers = [subprocess.Popen([sys.executable, "-c", DRIVER, url, str(start)], stdin=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        deadline = time.time() + 30
        while all(d.poll() is None for d in drivers) and time.time() < deadline:
            time.sleep(0.02)  # the refused one exits; one that holds the lease waits for its stdin
        results = [(d.communicate()[1], d.returncode) for d in drivers]  # closes both stdins
        assert sorted(code for _, code in results) == [0, 2], results
        refused = next(err for err, code in results if code == 2)
        assert f"{url}: another pixsift job is writing this run store (pid " in refused


def test_a_taken_over_lease_fails_its_holders_renewal_and_fence(bucket, monkeypatch):
    monkeypatch.setenv("PIXSIFT_LEASE_SECONDS", "1.2")
    url = f"{bucket}/store.zarr"
    fs = fsspec.filesystem("s3")
    with leased(url, "run store", {**OWNER, "pid": 1}) as first:
        first.check()
        with pytest.raises(Busy, match="another pixsift job is writing this run store"):
            with leased(url, "run store", OWNER):
                pass
        stale = json.loads(fs.cat_file(f"{url.removeprefix('s3://')}.pixsift-lease"))
        stale["heartbeat"] = 0  # as a holder paused for long leaves it
        fs.pipe_file(f"{url.removeprefix('s3://')}.pixsift-lease", json.dumps(stale).encode())
        with leased(url, "run store", {**OWNER, "pid": 2}) as second:  # taken over
            second.check()
            with pytest.raises(LeaseLost, match="lost its lease on the store to pid 2 on test"):
                first.check()
            time.sleep(0.5)  # the first holder's heartbeat finds its version replaced and stops renewing
            second.check()
    assert not fs.exists(f"{url.removeprefix('s3://')}.pixsift-lease")


def test_the_lease_is_created_beside_the_store_and_removed_at_the_end(bucket):
    url = f"{bucket}/store.zarr"
    fs = fsspec.filesystem("s3")
    with writing(url, "run store") as fence:
        held = json.loads(fs.cat_file(f"{url.removeprefix('s3://')}.pixsift-lease"))
        assert held["token"] == fence.token and held["pid"] == os.getpid()
    assert not fs.exists(f"{url.removeprefix('s3://')}.pixsift-lease")
