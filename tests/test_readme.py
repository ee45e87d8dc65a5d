"""The README's Python API example runs as written, from a copy of the checkout's sample data."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_python_api_example_runs(tmp_path, monkeypatch):
    readme = (REPO / "README.md").read_text()
    [block] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "from pixsift.engine" in b]
    for name in ("samples", "tests"):
        (tmp_path / name).symlink_to(REPO / name)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "runs/api-export/.pixsift-manifest.json").is_file()
    assert list((tmp_path / "runs/api-export").glob("shard-*.tar"))
