"""`pixsift download` runs img2dataset against an HTTP server on 127.0.0.1, and `pixsift score` of its
folder gives every URL exactly one row: the images scored, each failure with img2dataset's reason."""

import contextlib
import io
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pixsift.engine.cli import main
from pixsift.engine.store.run_store import RunStore
from tests.helpers.cli import user_error
from tests.helpers.http_server import serving
from tests.helpers.scoring import encoded

pytest.importorskip("img2dataset")

PHOTOS = ("astronaut", "coffee", "chelsea", "camera", "rocket")


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    """LAION's layout (URL, TEXT and a column of its own) through img2dataset into a folder."""
    tmp = tmp_path_factory.mktemp("download")
    files = {f"/{name}.img": ("image/jpeg", encoded(name)) for name in PHOTOS}
    files["/page.html"] = ("text/html", b"<html><body>not an image</body></html>")
    with serving(files) as base:
        urls = {
            **{f"{base}/{name}.img": f"a photograph of {name}" for name in PHOTOS},
            f"{base}/gone.jpg": "a 404",
            f"{base}/slow/astronaut.img": "an answer slower than the timeout",
            f"{base}/page.html": "html, not an image",
            f"{base}/redirect/chelsea.img": "a redirect to a cat",
            "http://nowhere.invalid/a.jpg": "a name that does not resolve",
        }
        table = tmp / "laion.parquet"
        pq.write_table(
            pa.table({"URL": list(urls), "TEXT": list(urls.values()), "similarity": [0.3] * len(urls)}), table
        )
        out = tmp / "images"
        argv = ["download", "--input", str(table), "--to", str(out), "--threads", "4", "--timeout", "2"]
        printed = io.StringIO()
        before = set(Path(tempfile.gettempdir()).glob("*wandb*"))
        with contextlib.redirect_stdout(printed):
            assert main([*argv, "--retries", "0", "--shard-size", "6"]) == 0
    assert "downloaded 6 of 10 URLs into 2 shards" in printed.getvalue()
    # img2dataset's workers import wandb, whose temporary folders outlive them: none is left behind (this
    # process's own were made when the module's importorskip imported img2dataset, and go at its exit)
    left = set(Path(tempfile.gettempdir()).glob("*wandb*")) - before
    assert not left and not list(Path(tempfile.gettempdir()).glob("pixsift-download-*"))
    return tmp, urls, out


def test_every_url_gets_one_row_and_failures_say_why(downloaded, tiny_config, capsys):
    tmp, urls, out = downloaded
    store = tmp / "store.zarr"
    argv = ["score", "--input", str(out), "--store", str(store), "--clip-config", str(tiny_config)]
    assert main([*argv, "--clip-random-init", "--shard-rows", "4", "--batch-size", "4"]) == 0
    run = RunStore.open(str(store), read_only=True)
    meta = [json.loads(m) for m in run.arrays["meta"][:].tolist()]
    assert sorted(m["url"] for m in meta) == sorted(urls)  # each URL once
    statuses, errors = run.arrays["status"][:].tolist(), run.arrays["error"][:].tolist()
    rows = {m["url"]: (status, error) for m, status, error in zip(meta, statuses, errors, strict=True)}
    base = next(u for u in urls if "127.0.0.1" in u).rsplit("/", 1)[0]
    for name in PHOTOS:
        assert rows[f"{base}/{name}.img"] == ("ok", "")
    assert rows[f"{base}/redirect/chelsea.img"] == ("ok", "")
    for url, why in (
        (f"{base}/gone.jpg", "HTTP Error 404"),
        (f"{base}/slow/astronaut.img", "timed out"),
        (f"{base}/page.html", "decoding error"),
        ("http://nowhere.invalid/a.jpg", "urlopen error"),
    ):
        status, error = rows[url]
        assert status == "failed" and error.startswith(f"download: {url}: ") and why in error, (url, error)
    ok = next(m for m in meta if m["url"] == f"{base}/coffee.img")
    assert ok["similarity"] == pytest.approx(0.3) and len(ok["sha256"]) == 64  # img2dataset's and LAION's
    captions = dict(zip(run.arrays["key"][:].tolist(), run.arrays["caption"][:].tolist(), strict=True))
    assert sorted(captions.values()) == sorted(urls.values())
    # img2dataset's own folder, as img2dataset users have it, is the same input
    other = tmp / "other.zarr"
    argv = ["score", "--input", str(out / "shards"), "--store", str(other), "--clip-config", str(tiny_config)]
    assert main([*argv, "--clip-random-init", "--shard-rows", "4", "--batch-size", "4"]) == 0
    again = RunStore.open(str(other), read_only=True)
    assert again.arrays["key"][:].tolist() == run.arrays["key"][:].tolist()
    assert again.arrays["meta"][:].tolist() == run.arrays["meta"][:].tolist()


def test_a_download_resumes_and_a_url_table_is_refused_by_score(downloaded, capsys, tmp_path):
    tmp, urls, out = downloaded
    before = {p.name: p.stat().st_mtime_ns for p in Path(out, "shards").glob("*.tar")}
    argv = ["download", "--input", str(tmp / "laion.parquet"), "--to", str(out), "--threads", "4"]
    assert main([*argv, "--timeout", "2", "--retries", "0", "--shard-size", "6"]) == 0  # nothing left to do
    assert {p.name: p.stat().st_mtime_ns for p in Path(out, "shards").glob("*.tar")} == before
    line = user_error(capsys, [*argv, "--timeout", "2", "--retries", "0", "--shard-size", "7"])
    assert line.startswith(f"pixsift download: download folder {out}: ") and "shard_size" in line
    line = user_error(capsys, ["score", "--input", str(tmp / "laion.parquet"), "--store", str(tmp_path / "s"),
                               "--clip-random-init", "--image-col", "URL"])  # fmt: skip
    assert "is a web address" in line and "pixsift download --input" in line


def test_a_column_that_is_not_there_is_one_line(tmp_path, capsys):
    table = tmp_path / "urls.csv"
    table.write_text("link,caption\nhttp://127.0.0.1:9/a.jpg,a cat\n")
    line = user_error(capsys, ["download", "--input", str(table), "--to", str(tmp_path / "out")])
    assert line == (
        f"pixsift download: {table}: has no url column, in any case (columns: link, caption); name it with "
        "--url-col"
    )
    line = user_error(
        capsys, ["download", "--input", str(table), "--to", str(tmp_path / "o"), "--url-col", "URL"]
    )
    assert (
        line == f"pixsift download: --url-col URL: the URL list {table} has no column 'URL' (columns: link, "
        "caption)"
    )
    line = user_error(
        capsys, ["download", "--input", str(table), "--to", str(tmp_path / "o"), "--image-size", "512"]
    )
    assert line == (
        "pixsift download: --image-size: applies to a resize mode; with --resize-mode no images keep their "
        "size"
    )
    words = tmp_path / "urls.txt"  # img2dataset's headerless layout names no URL column to check
    words.write_text("http://127.0.0.1:9/a.jpg\n")
    line = user_error(capsys, ["download", "--input", str(words), "--to", str(tmp_path / "t")])
    assert line == (
        f"pixsift download: {words}: not a URL list: give one .parquet, .csv, .tsv, .jsonl file, or a folder "
        "of one kind"
    )
    assert not any((tmp_path / name).exists() for name in ("out", "o", "t"))
