"""Commands that run no model start at once: show, inspect, select, export and report import no torch,
transformers, diffusers or open_clip, running on a real store."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers.selection_stores import scored_pool, write_selection

HEAVY = ("torch", "transformers", "diffusers", "open_clip")
# Runs `pixsift ARGS` and prints which heavy packages it imported, last.
RUN = f"""
import json, sys
from pixsift.engine.cli import main
status = main(sys.argv[1:])
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))
sys.exit(status)
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    pool = scored_pool(tmp_path_factory.mktemp("pool"))
    write_selection(pool.store, "best", list(range(12)))
    return pool.store.url


@pytest.mark.parametrize(
    "argv",
    [
        ["show", "{store}", "--limit", "3"],
        ["inspect", "{store}"],
        ["select", "{store}", "--recipe", "synthvlm", "--name", "fast"],
        ["export", "{store}", "--selection", "best", "--to", "{tmp}/out", "--format", "parquet"],
        ["report", "{store}", "--selection", "best", "--out", "{tmp}/report"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_command_that_runs_no_model_imports_none(store, tmp_path, argv):
    argv = [a.format(store=store, tmp=tmp_path) for a in argv]
    done = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
