"""One writer per store: a second writer is refused naming the first; a lock a killed job left is taken
over; fsspec stores use a lease with a heartbeat."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import fsspec
import pytest

from pixsift.engine.store.lock import Busy, writing
from tests.helpers.cli import user_error
from tests.helpers.processes import kill_when
from tests.helpers.selection_stores import scored_pool


def test_a_second_writer_is_refused_naming_the_first(tmp_path, capsys):
    store = scored_pool(tmp_path / "pool").store.url
    with writing(str(store), "run store"):
        with pytest.raises(Busy, match=r"another pixsift job is writing this run store \(pid \d+ on "):
            with writing(str(store), "run store"):
                pass
        line = user_error(capsys, ["select", str(store), "--recipe", "synthvlm"])
    assert line.startswith(f"pixsift select: {store}: another pixsift job is writing this run store (pid ")
    with writing(str(store), "run store"):  # released at the end of the first
        pass


def test_the_lock_of_a_killed_job_is_taken_over(tmp_path):
    store = tmp_path / "pool.zarr"
    held = tmp_path / "held"
    script = textwrap.dedent(f"""
        import pathlib, time
        from pixsift.engine.store.lock import writing
        with writing({str(store)!r}, "run store"):
            pathlib.Path({str(held)!r}).touch()
            time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script])
    kill_when(holder, held.exists, 60)
    lock_file = tmp_path / ".pool.zarr.pixsift-lock"
    assert json.loads(lock_file.read_text())["pid"] == holder.pid  # the killed job left its record
    with writing(str(store), "run store"):  # taken over, not refused
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()


def test_a_store_without_conditional_writes_takes_a_best_effort_lease_and_says_so(monkeypatch, capsys):
    url = f"memory://leases/{time.time_ns()}/pool.zarr"
    fs = fsspec.filesystem("memory")
    lease = url.removeprefix("memory://") + ".pixsift-lease"
    with writing(url, "run store"):
        assert fs.exists(lease)
        with pytest.raises(Busy, match="its lease expires"):
            with writing(url, "run store"):
                pass
    assert not fs.exists(lease)
    assert capsys.readouterr().err.startswith(
        f"pixsift: warning: {url}: this filesystem has no conditional writes, so the one-writer lease is "
        "best effort (two jobs started in the same instant could both write); safe: local paths, s3://\n"
    )
    fs.pipe_file(lease, b'{"pid": 1, "host": "gone", "since": "then", "command": "x", "heartbeat": 0}')
    monkeypatch.setenv("PIXSIFT_LEASE_SECONDS", "5")
    with writing(url, "run store"):  # a lease whose heartbeat stopped long ago is taken over
        pass
