"""A hostile pool, scored in one run: every sample gets exactly one row, with the right status and the
reason it failed; the run exits 0, reads nothing outside its inputs, and stays small in memory."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixsift.engine.core.candidates import error_kind
from tests.helpers.candidate_pools import photo
from tests.helpers.processes import PEAK_RSS
from tests.helpers.scoring import read_store

REPO = Path(__file__).resolve().parents[3]
# key -> (status, error kind) each sample must end with
EXPECTED = {
    "shard/good": ("ok", ""),
    "shard/bom": ("ok", ""),
    "shard/surrogate": ("failed", "bad_utf8"),
    "shard/deep": ("failed", "bad_json"),
    "shard/needle": ("failed", "decode"),
    "shard/link": ("failed", "link_member"),
    "shard/patched": ("failed", "decode"),
    "shard/nan": ("failed", "missing_caption"),
    "shard/list": ("failed", "missing_caption"),
    "shard/meta": ("failed", "bad_meta"),
    "first": ("ok", ""),
    "twin": ("ok", ""),
    "twin#2": ("failed", "duplicate_key"),
    "up": ("failed", "outside_input"),
    "passwd": ("failed", "outside_input"),
    "huge": ("failed", "too_large"),
    "csv-key": ("ok", ""),
    "parquet-nan": ("failed", "missing_caption"),
}


def png_1xn(width: int) -> bytes:
    """A 1-pixel-high gray PNG `width` pixels wide: a few hundred bytes that decode to a needle."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = zlib.compress(b"\x00" + b"\x80" * width, 9)
    header = struct.pack(">IIBBBBB", width, 1, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def hostile_pool(root: Path) -> list[str]:
    jpeg = photo("astronaut", 96)
    members = [
        ("good.jpg", jpeg), ("good.txt", b"a photo of an astronaut"),
        ("bom.jpg", jpeg), ("bom.txt", b"\xef\xbb\xbfan astronaut again"),
        ("surrogate.jpg", jpeg), ("surrogate.json", b'{"caption": "a \\ud800 cat"}'),
        ("deep.jpg", jpeg), ("deep.json", b"[" * 100_000 + b"]" * 100_000),
        ("needle.png", png_1xn(1_000_000)), ("needle.txt", b"a needle"),
        ("patched.jpg", jpeg[: len(jpeg) // 2] + b"\xff\xd9"), ("patched.txt", b"half a photo"),
        ("nan.jpg", jpeg), ("nan.json", b'{"caption": NaN}'),
        ("list.jpg", jpeg), ("list.json", b'{"caption": ["a", "cat"]}'),
        ("meta.jpg", jpeg), ("meta.json", b'{"caption": "a cat", "category": {"a": 1}}'),
    ]  # fmt: skip
    with tarfile.open(root / "shard.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
            if name == "good.txt":  # a sample made only of links
                for link, kind in (("link.jpg", tarfile.SYMTYPE), ("link.txt", tarfile.LNKTYPE)):
                    info = tarfile.TarInfo(link)
                    info.type, info.linkname = kind, "good.jpg"
                    tar.addfile(info)
    manifest = root / "pool"
    manifest.mkdir()
    (manifest / "a.jpg").write_bytes(jpeg)
    with open(manifest / "huge.jpg", "wb") as f:
        f.truncate(4 << 30)  # 4 GiB, sparse: read whole it would take the memory
    (root / "outside.jpg").write_bytes(jpeg)
    lines = [
        {"key": "first", "image": "a.jpg", "caption": "first row, after a byte-order mark"},
        {"key": "twin", "image": "a.jpg", "caption": "one"},
        {"key": "twin", "image": "a.jpg", "caption": "two"},
        {"key": "up", "image": "../outside.jpg", "caption": "outside the manifest's folder"},
        {"key": "passwd", "image": "/etc/passwd", "caption": "outside everything"},
        {"key": "huge", "image": "huge.jpg", "caption": "4 GiB"},
    ]
    text = "\ufeff" + "\n".join(json.dumps(line) for line in lines) + "\n"
    (manifest / "captions.jsonl").write_text(text, encoding="utf-8")
    (root / "table").mkdir()
    (root / "table" / "a.jpg").write_bytes(jpeg)
    (root / "table" / "m.csv").write_bytes(b"\xef\xbb\xbfkey,image,caption\ncsv-key,a.jpg,a csv row\n")
    pq.write_table(pa.table({"key": ["parquet-nan"], "image": ["a.jpg"], "caption": [float("nan")]}),
                   root / "table" / "m.parquet")  # fmt: skip
    return [
        str(root / "shard.tar"),
        str(manifest),
        str(root / "table" / "m.csv"),
        str(root / "table" / "m.parquet"),
    ]


@pytest.fixture(scope="module")
def scored(tmp_path_factory, tiny_config):
    root = tmp_path_factory.mktemp("hostile")
    inputs = hostile_pool(root)
    store = root / "store.zarr"
    args = [
        "score",
        "--input",
        *inputs,
        "--store",
        str(store),
        "--clip-config",
        str(tiny_config),
        "--clip-random-init",
        "--device",
        "cpu",
        "--batch-size",
        "4",
        "--shard-rows",
        "8",
        "--max-scan-failures",
        "1",
    ]  # fmt: skip: more than half the pool is bad on purpose
    # Its own process, so that its peak memory is its own.
    run = subprocess.run([sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, cwd=REPO)
    return run, read_store(store)


def test_one_row_per_sample_with_its_status_and_reason(scored):
    run, store = scored
    assert run.returncode == 0, run.stderr
    rows = {
        key: (status, error_kind(error))
        for key, status, error in zip(store["key"], store["status"], store["error"], strict=True)
    }
    assert rows == EXPECTED
    captions = dict(zip(store["key"], store["caption"], strict=True))
    assert captions["shard/bom"] == "an astronaut again" and captions["first"].startswith("first row")
    errors = dict(zip(store["key"], store["error"], strict=True))
    assert "side too long: 1000000x1 pixels" in errors["shard/needle"]
    assert "premature end of data segment" in errors["shard/patched"]
    assert "nests deeper than 64 levels" in errors["shard/deep"]
    assert "more than max_bytes" in errors["huge"]


def test_memory_stays_small(scored):
    run, _ = scored
    maxrss_kib = int(run.stderr.strip().splitlines()[-1])
    assert maxrss_kib < 3 * 1024 * 1024, f"peak RSS {maxrss_kib / 1024:.0f} MiB"
