"""A pipeline file over a scored pool (score, select, export, report) and the plan `pixsift run` prints."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pixsift.engine.cli import main

SPEC = """name = "best"
[[steps]]
type = "top_k"
fraction = 0.75
"""


def write_pipeline(folder: Path, inputs: list[str], tiny_config: Path, **extra: str) -> Path:
    (folder / "spec.toml").write_text(SPEC)
    path = folder / "pipeline.toml"
    path.write_text(
        f"""state = "{folder / "state.json"}"

[score]
inputs = {json.dumps(inputs)}
store = "{folder / "store"}"
clip_config = "{tiny_config}"
clip_random_init = true
shard_rows = 4
batch_size = 4
{extra.get("score", "")}

[select]
spec = "{folder / "spec.toml"}"
{extra.get("select", "")}

[export]
to = "{folder / "export"}"
format = "jsonl"

[report]
out = "{folder / "report"}"
"""
    )
    return path


def plan(out: str) -> dict[str, tuple[str, str]]:
    """The plan's lines, stage -> (action, reason)."""
    found = {}
    for line in out.splitlines():
        if m := re.fullmatch(r"  (\w+) +(skip|run|resume|re-run) +(.*)", line):
            found[m[1]] = (m[2], m[3])
    return found


def run(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(["run", *argv]) == 0
    return capsys.readouterr().out
