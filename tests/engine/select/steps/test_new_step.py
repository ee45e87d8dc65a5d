"""Adding a selection step is one new module in engine/select/steps/: it registers itself, a spec names it,
and `pixsift select` runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pixsift.engine.select import steps
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import kept_rows, selection_group
from tests.helpers.selection_stores import scored_pool

NEW_STEP = '''"""`type = "caption_has"`, `text = "..."`: captions holding the text (added by a test)."""

from dataclasses import dataclass

from pixsift.engine.select.steps.captions import CaptionFilter


@dataclass(frozen=True)
class CaptionHas(CaptionFilter, type="caption_has"):
    text: str
    name: str = "caption_has"

    def keeps(self, caption: str) -> bool:
        return self.text in caption
'''


def test_a_new_step_is_one_new_module(tmp_path):
    pool = scored_pool(tmp_path / "pool")
    spec = tmp_path / "spec.toml"
    spec.write_text('name = "cats"\n[[steps]]\ntype = "caption_has"\ntext = "chelsea"\n')
    module = Path(steps.__path__[0]) / "caption_has.py"
    assert not module.exists()
    module.write_text(NEW_STEP)
    try:
        argv = ["select", pool.store.url, "--spec", str(spec)]
        done = subprocess.run(
            [sys.executable, "-m", "pixsift.engine.cli", *argv], capture_output=True, text=True
        )
    finally:
        module.unlink()
    assert done.returncode == 0, done.stderr
    store = RunStore.open(pool.store.url, read_only=True)
    captions = store.arrays["caption"][:]
    kept = [str(captions[row]) for row in kept_rows(store, "cats")]
    assert len(kept) == 3 and all("chelsea" in caption for caption in kept)
    assert selection_group(store, "cats").attrs["spec"]["steps"][0]["type"] == "caption_has"
