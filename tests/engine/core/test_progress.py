"""Progress lines: the ETA waits for the rate after warm-up."""

from __future__ import annotations

import io

from pixsift.engine.core import progress as progress_module
from pixsift.engine.core.progress import Progress


def test_the_eta_comes_from_the_rate_after_the_first_update(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "perf_counter", lambda: now[0])
    stream = io.StringIO()
    p = Progress("score", 300, interval=0.0, stream=stream, started=0.0)
    now[0] = 100.0
    p.update(100)  # 100 rows in 100 s, the model's load included: no rate to trust yet
    now[0] = 110.0
    p.update(100)  # 100 more in 10 s: 10 rows/s, 100 rows left
    first, second = stream.getvalue().splitlines()
    assert "1.0 rows/s  ETA --:--" in first
    assert "ETA 0:10" in second
