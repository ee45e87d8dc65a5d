"""Untrusted text reaches the terminal with no control character: `show` (table and JSONL), `inspect`,
progress events and error lines; error lines quote at most 200 characters of the input."""

from __future__ import annotations

import io
import json
import re

from pixsift.engine.cli import main
from pixsift.engine.core.candidates import failure
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.progress import Progress
from pixsift.engine.core.terminal import printable
from tests.helpers.selection_stores import scored_pool, write_selection

HOSTILE = {
    "title": "\x1b]0;owned\x07",
    "clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "clear": "\x1b[2J\x1b[H",
    "c1": "\x9b31m",
    "overwrite": "safe\rEVIL\x08",
    "bidi": "txt.\u202egpj",
    "null": "a\x00b\x7f",
}
RAW = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_every_unsafe_character_is_escaped_and_json_reads_it_back():
    for text in HOSTILE.values():
        safe = printable(text)
        assert not RAW.search(safe) and json.loads(f'"{safe}"') == text
    assert printable("crème brûlée 猫 🐈") == "crème brûlée 猫 🐈"
    assert printable("x" * 5000, 200) == "x" * 200 + "… (5,000 characters)"


def test_show_and_inspect_print_hostile_captions_keys_and_columns_escaped(tmp_path, capsys):
    pool = scored_pool(tmp_path / "pool")
    for row, (name, text) in enumerate(HOSTILE.items()):
        pool.store.arrays["caption"][row] = f"{name}: {text}"
        pool.store.arrays["key"][row] = f"key {text}"
    write_selection(pool.store, "best", list(range(12)))
    for argv in (
        ["show", pool.store.url],
        ["show", pool.store.url, "--format", "jsonl"],
        ["show", pool.store.url, "--selection", "best"],
        ["inspect", pool.store.url],
    ):
        capsys.readouterr()
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert not RAW.search(out.replace("\n", "")), argv
    main(["show", pool.store.url, "--format", "jsonl"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["caption"] for r in rows[: len(HOSTILE)]] == [f"{n}: {t}" for n, t in HOSTILE.items()]


def test_a_rows_error_quotes_at_most_500_characters_of_a_value():
    binary_as_path = "89504e47" * 2179  # a PNG column read as paths: 17,432 characters
    error = failure("missing_file", f"image {binary_as_path} does not exist")
    assert len(error) < 600 and error.endswith("… (17,453 characters)")


def test_error_lines_and_progress_events_are_one_safe_line():
    error = BadInput("\x1b[2J" + "p" * 17_432, "not an image \x1b]0;x\x07")
    line = str(error)
    assert "\n" not in line and not RAW.search(line) and len(line) < 300
    assert "… (17,436 characters)" in line
    stream = io.StringIO()
    progress = Progress("score", 4)
    progress.stream = stream
    progress.retry("worker lost on shard \x1b[2Jevil\nnext")
    assert stream.getvalue().count("\n") == 1 and not RAW.search(stream.getvalue().rstrip("\n"))
