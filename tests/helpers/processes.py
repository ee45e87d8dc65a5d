"""Killing a job at a chosen moment, as a crash or an impatient user would."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

# `python -c PEAK_RSS ARGS` runs `pixsift ARGS` and prints its peak resident memory (KiB) as the last line
# of stderr: VmHWM, the peak of this process image (getrusage's ru_maxrss keeps the peak of the process it
# was forked from: a test process that is large already).
PEAK_RSS = """
import re, sys
from pathlib import Path
from pixsift.engine.cli import main
status = main(sys.argv[1:])
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1], file=sys.stderr)
sys.exit(status)
"""


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
