"""Killing a job at a chosen moment, as a crash or an impatient user would."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def kill_when(
    proc: subprocess.Popen,
    ready: Callable[[], bool],
    timeout: float,
    log: Path | None = None,
    poll: float = 0.005,
) -> None:
    """SIGKILL `proc` within `poll` seconds of `ready()`; fail if it ends first, or is not ready in `timeout`
    seconds (showing its `log`)."""
    deadline = time.monotonic() + timeout
    while not ready():
        detail = f":\n{log.read_text()}" if log else ""
        assert proc.poll() is None, f"the process ended before it could be killed{detail}"
        assert time.monotonic() < deadline, f"not ready to be killed after {timeout} s{detail}"
        time.sleep(poll)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
