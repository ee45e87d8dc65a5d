import hashlib
import io
import json
import math
import subprocess
import sys
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import webdataset as wds
from PIL import Image

from pixsift.engine.cli import main
from pixsift.engine.export import formats
from pixsift.engine.export.config import MANIFEST
from pixsift.engine.export.formats import FORMATS
from pixsift.engine.export.job import WRITERS, export
from pixsift.engine.export.parquet_shards import ROW_GROUP_ROWS
from pixsift.engine.io.ownership import MARKER
from pixsift.engine.score.job import score
from pixsift.engine.store.lock import Busy
from pixsift.engine.store.run_store import RunStore
from tests.helpers.scoring import encoded, score_config
from tests.helpers.selection_stores import scored_pool, write_selection

KEPT = [0, 1, 2, 3, 4, 6, 7, 9, 10, 11]
SHARD = 4


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pool")
    # Row 3 edits a candidate of the store, row 7 an image file, row 9 a source that does not exist.
    pool = scored_pool(tmp, edits={3: "loose/astronaut-40", 7: str(tmp / "astronaut-56.jpg"), 9: "gone"})
    write_selection(pool.store, "best", KEPT, dup_group={1: 1, 5: 1})
    return pool


def kept_keys(pool) -> list[str]:
    return pool.store.arrays["key"][:][KEPT].tolist()


def key_of(pool, row: int) -> str:
    return str(pool.store.arrays["key"][row])


def exported(pool, tmp_path, format, **options):
    summary = export(pool.store.url, "best", tmp_path / format, format, shard_size=SHARD, **options)
    return summary, json.loads((summary.out / MANIFEST).read_text())


def test_webdataset_reads_back_with_every_kept_row_once(pool, tmp_path):
    summary, manifest = exported(pool, tmp_path, "webdataset")
    shards = sorted(str(p) for p in summary.out.glob("shard-*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False))
    assert [json.loads(s["json"])["key"] for s in samples] == kept_keys(pool)
    for sample in samples:
        record = json.loads(sample["json"])
        image = sample.get("jpg", sample.get("png"))
        assert image == pool.images[record["key"]]
        assert record["format"] in ("jpeg", "png") and record["weighted_score"] > 0
        assert sample["txt"].decode() == record["caption"] != ""  # the img2dataset / open_clip convention
    assert [(f["path"], f["samples"]) for f in manifest["files"]][-2:] == [
        ("shard-000002.tar", 2),
        ("README.md", 0),
    ]
    assert manifest["n_exported"] == len(KEPT) and manifest["errors"] == []


def test_webdataset_members_are_sorted_ustar_with_zero_times_and_owners(pool, tmp_path):
    summary, _ = exported(pool, tmp_path, "webdataset")
    with tarfile.open(summary.out / "shard-000000.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_parquet_reads_back_with_pyarrow(pool, tmp_path):
    summary, manifest = exported(pool, tmp_path, "parquet")
    files = sorted(summary.out.glob("part-*.parquet"))
    table = pq.ParquetDataset(files).read()
    assert table.column("key").to_pylist() == kept_keys(pool)
    assert [pool.images[k] for k in kept_keys(pool)] == table.column("image").to_pylist()
    assert {"caption", "category", "clip_cosine", "aesthetic", "weighted_score", "dup_group"} <= set(
        table.column_names
    )
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == -(-SHARD // ROW_GROUP_ROWS)
    assert [f["samples"] for f in manifest["files"]] == [4, 4, 2]


def test_parquet_with_image_paths(pool, tmp_path):
    summary, manifest = exported(pool, tmp_path, "parquet", images="paths")
    table = pq.ParquetDataset(sorted(summary.out.glob("part-*.parquet"))).read()
    paths = table.column("image_path").to_pylist()
    assert [(summary.out / p).read_bytes() for p in paths] == [pool.images[k] for k in kept_keys(pool)]
    assert [f["path"] for f in manifest["files"]][-4:] == [
        "images/000000", "images/000001", "images/000002", "README.md"
    ]  # fmt: skip


def test_hf_layout_loads_with_datasets(pool, tmp_path):
    datasets = pytest.importorskip("datasets")
    summary, _ = exported(pool, tmp_path, "hf")
    loaded = datasets.load_dataset(str(summary.out), split="train", cache_dir=str(tmp_path / "cache"))
    assert isinstance(loaded.features["image"], datasets.Image)
    assert loaded["key"] == kept_keys(pool)
    assert isinstance(loaded[0]["image"], Image.Image)
    raw = loaded.cast_column("image", datasets.Image(decode=False))
    assert [row["image"]["bytes"] for row in raw] == [pool.images[k] for k in kept_keys(pool)]


def test_fine_t2i_layout_of_rows_made_without_a_pool(pool, tmp_path):
    datasets = pytest.importorskip("datasets")
    summary, _ = exported(pool, tmp_path, "fine_t2i")
    loaded = datasets.load_dataset(str(summary.out), split="train", cache_dir=str(tmp_path / "cache"))
    assert loaded["key"] == kept_keys(pool) and isinstance(loaded[0]["image"], Image.Image)
    arrays = pool.store.arrays
    for row, found in zip(KEPT, loaded, strict=True):
        width, height = int(arrays["width"][row]), int(arrays["height"][row])
        divisor = math.gcd(width, height)
        assert found["prompt"] == arrays["caption"][row]  # no pool: the caption it was scored with
        assert found["image_aspect_ratio"] == f"{width // divisor}:{height // divisor}"
        assert found["prompt_category"] == (arrays["category"][row] or None)
        assert found["image_generator"] is None and found["enhanced_prompt"] is None
        assert found["image_generated_with_enhanced_prompt"] is False
        assert found["aesthetic_predictor_v_2_5_score"] is None  # the store has no column of that name


def test_sharegpt_jsonl_layout_with_edits_and_a_missing_source(pool, tmp_path):
    datasets = pytest.importorskip("datasets")
    summary, manifest = exported(pool, tmp_path, "jsonl")
    out = summary.out
    rows = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert json.loads((out / "train.json").read_text()) == rows
    missing = key_of(pool, 9)
    assert [r["key"] for r in rows] == [k for k in kept_keys(pool) if k != missing]
    assert manifest["errors"] == [{"row": 9, "key": missing, "error": "edit source 'gone': not a key in "
                                   "the run store, nor an existing file"}]  # fmt: skip
    assert summary.errors and "gone" in summary.text()
    for row in rows:
        assert set(row) <= {"key", "input_prompt", "input_image", "output_image", "meta"}
        assert (out / row["output_image"]).read_bytes() == pool.images[row["key"]]
    edits = {r["key"]: r["input_image"] for r in rows if "input_image" in r}
    key3, key7 = key_of(pool, 3), key_of(pool, 7)
    assert (out / edits[key3][0]).read_bytes() == pool.images["loose/astronaut-40"]
    assert (out / edits[key7][0]).read_bytes() == pool.images["loose/astronaut-56"]
    loaded = datasets.load_dataset("json", data_files=str(out / "train.jsonl"), cache_dir=str(tmp_path / "c"))
    assert loaded["train"]["key"] == [r["key"] for r in rows]


LAYOUTS = [
    ("webdataset", "bytes"),
    ("parquet", "bytes"),
    ("parquet", "paths"),
    ("hf", "bytes"),
    ("jsonl", "bytes"),
]


@pytest.mark.parametrize(("format", "images"), LAYOUTS)
def test_each_export_folder_reads_as_it_is_with_exactly_the_exported_rows(pool, tmp_path, format, images):
    import datasets
    import pandas as pd
    import pyarrow.dataset as ds

    summary, manifest = exported(pool, tmp_path, format, images=images)
    out, keys = summary.out, [k for k in kept_keys(pool) if k not in {e["key"] for e in manifest["errors"]}]
    loaded = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    meta = [json.dumps({"url": f"https://example.com/{k}", "similarity": 0.3}) for k in keys]
    if format == "webdataset":
        assert [r["json"]["key"] for r in loaded] == keys and [r["json"]["meta"] for r in loaded] == meta
        shards = sorted(str(p) for p in out.glob("*.tar"))
        assert [json.loads(s["json"])["key"] for s in wds.WebDataset(shards, shardshuffle=False)] == keys
        return
    assert loaded["key"] == keys and loaded["meta"] == meta  # every format carries the input's metadata
    if format in ("parquet", "hf"):
        # the folder (its `data` folder for hf), or, beside image files, its tables
        read = out / "data" if format == "hf" else out if images == "bytes" else sorted(out.glob("*.parquet"))
        whole = pd.read_parquet(read) if isinstance(read, Path) else pd.concat(map(pd.read_parquet, read))
        assert whole["key"].tolist() == keys
        assert ds.dataset(read, format="parquet").to_table().column("key").to_pylist() == keys
    if format == "jsonl":
        assert pd.read_json(out / "train.jsonl", lines=True)["key"].tolist() == keys


@pytest.mark.parametrize("format", FORMATS)
def test_exporting_twice_gives_identical_files(pool, tmp_path, format):
    first = export(pool.store.url, "best", tmp_path / "a", format, shard_size=SHARD).out
    second = export(pool.store.url, "best", tmp_path / "b", format, shard_size=SHARD).out
    export(pool.store.url, "best", second, format, shard_size=SHARD)  # replaces the export in place
    assert tree(first) == tree(second)
    manifest = json.loads((first / MANIFEST).read_text())
    for entry in manifest["files"]:
        if (first / entry["path"]).is_file():
            assert hashlib.sha256((first / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]


def tree(folder: Path) -> dict[str, bytes]:
    """Every file of the export; the ownership marker (who made it, when) is not part of the data."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MARKER
    }


def test_a_row_whose_bytes_are_gone_is_listed_and_the_rest_keep_their_shards(tmp_path):
    pool = scored_pool(tmp_path / "pool")
    write_selection(pool.store, "all", list(range(pool.store.n_rows)))
    (tmp_path / "pool" / "coffee-40.png").unlink()  # row 2, scored while it was there
    out = tmp_path / "wds"
    assert main(["export", pool.store.url, "--selection", "all", "--to", str(out), "--format", "webdataset",
                 "--shard-size", "4"]) == 1  # fmt: skip
    manifest = json.loads((out / MANIFEST).read_text())
    assert [(e["row"], e["key"]) for e in manifest["errors"]] == [(2, "loose/coffee-40")]
    assert "read: " in manifest["errors"][0]["error"] and "coffee-40.png" in manifest["errors"][0]["error"]
    assert [f["samples"] for f in manifest["files"] if f["path"].endswith(".tar")] == [3, 4, 4]
    names = [
        s["__key__"] for s in wds.WebDataset(sorted(str(p) for p in out.glob("*.tar")), shardshuffle=False)
    ]
    assert names == [f"{i:09d}" for i in range(12) if i != 2]


def test_refuses_other_data_and_bad_options(pool, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty and was not made by pixsift"):
        export(pool.store.url, "best", tmp_path, "parquet")
    with pytest.raises(ValueError, match="tar"):
        export(pool.store.url, "best", tmp_path / "x", "tar")
    with pytest.raises(ValueError, match="parquet format only"):
        export(pool.store.url, "best", tmp_path / "x", "jsonl", images="paths")
    with pytest.raises(KeyError, match="no selection 'nope'.*best"):
        export(pool.store.url, "nope", tmp_path / "x", "jsonl")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_folder_that_looks_like_an_export_but_is_the_users_is_never_replaced(pool, tmp_path):
    mine = tmp_path / "mine"
    for name in ("images/a.png", "data/part-0.parquet", "README.md", MANIFEST, "shard-000000.tar"):
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text(f"my own {name}")
    before = tree(mine)
    for format in FORMATS:
        with pytest.raises(FileExistsError, match="was not made by pixsift"):
            export(pool.store.url, "best", mine, format)
    assert tree(mine) == before and list(tmp_path.glob(".mine.partial-*")) == []


def test_export_into_or_around_the_store_or_onto_a_file_is_refused_in_one_line(pool, tmp_path, capsys):
    store = Path(pool.store.url)
    (tmp_path / "a-file").write_text("mine")
    for to, problem in (
        (store / "sub", "lies inside the run store"),
        (store, "the run store"),
        (store.parent, "the run store"),
        (tmp_path / "a-file", "is a file"),
    ):
        assert main(["export", pool.store.url, "--selection", "best", "--to", str(to), "--format", "hf"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(to) in err and problem.split()[-1] in err, err
    assert (tmp_path / "a-file").read_text() == "mine" and not (store / "sub").exists()


def test_a_second_export_to_one_folder_is_refused_and_leaves_the_first_whole(pool, tmp_path, monkeypatch):
    from pixsift.engine.export import job as run

    out, refused = tmp_path / "out", []
    first = run.WRITERS["webdataset"]

    def write_while_another_starts(rows, folder, job):
        with pytest.raises(Busy, match="another pixsift job is writing this export folder") as error:
            export(pool.store.url, "best", out, "parquet")
        refused.append(error.value)
        assert folder.is_dir()  # the first export's partial folder is still there
        return first(rows, folder, job)

    monkeypatch.setitem(run.WRITERS, "webdataset", write_while_another_starts)
    summary = export(pool.store.url, "best", out, "webdataset")
    assert refused and (out / MANIFEST).is_file() and summary.n_exported == len(KEPT)
    assert json.loads((out / MANIFEST).read_text())["format"] == "webdataset"


def test_every_format_has_one_writer():
    assert tuple(WRITERS) == FORMATS == ("fine_t2i", "hf", "jsonl", "parquet", "webdataset")


NEW_FORMAT = '''"""`captions`: one caption per line (a format added by a test, as a user would add one)."""

from pixsift.engine.export.files import file_entry


def write(rows, out, job):
    path = out / "captions.txt"
    with path.open("w") as f:
        for row in rows:
            f.write(row.record["caption"] + "\\n")
    return [file_entry(out, path, len(job.kept))], []
'''


def test_a_new_format_is_one_new_module(pool, tmp_path):
    """A file added to engine/export/formats/ is all it takes: the flag takes it, the export writes it."""
    module = Path(formats.__path__[0]) / "captions.py"
    assert not module.exists()
    module.write_text(NEW_FORMAT)
    try:
        argv = ["export", pool.store.url, "--selection", "best", "--to", str(tmp_path / "out"), "--format"]
        done = subprocess.run(
            [sys.executable, "-m", "pixsift.engine.cli", *argv, "captions"], capture_output=True, text=True
        )
    finally:
        module.unlink()
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "out" / "captions.txt").read_text().splitlines()
    assert lines == [f"a photo of {key_of(pool, row).split('/')[1]}" for row in KEPT]
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["format"] == "captions"


def test_edit_sources_outside_the_inputs_are_never_exported(tmp_path, monkeypatch):
    """Metadata naming /etc/passwd, or a path that climbs out of the inputs, exports nothing of it."""
    tmp = tmp_path / "pool"
    monkeypatch.chdir(tmp_path)
    escapes = {1: "/etc/passwd", 3: "../../../../../../../../etc/hostname", 5: str(tmp_path / "secret.txt")}
    (tmp_path / "secret.txt").write_text("not for the dataset")
    pool = scored_pool(tmp, edits=escapes)
    write_selection(pool.store, "best", list(range(12)))
    summary = export(pool.store.url, "best", tmp_path / "out", "jsonl")
    errors = {e.row: e.error for e in summary.errors}
    assert sorted(errors) == [1, 3, 5]
    assert all("a file outside the inputs the store was scored from" in e for e in errors.values())
    exported_bytes = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    for leaked in (Path("/etc/passwd").read_bytes(), b"not for the dataset"):
        assert leaked not in exported_bytes


def test_an_image_replaced_after_scoring_is_left_out_with_the_reason(tmp_path):
    pool = scored_pool(tmp_path / "pool")
    write_selection(pool.store, "best", list(range(12)))
    replaced = str(pool.store.arrays["source"][0])  # a loose file
    Path(replaced).write_bytes(pool.images[key_of(pool, 2)])  # another photograph, another hash
    summary = export(pool.store.url, "best", tmp_path / "out", "webdataset")
    assert [(e.row, e.error.split(":")[0]) for e in summary.errors] == [(0, "changed")]
    assert "differ from those scored" in summary.errors[0].error


def test_a_killed_export_leaves_no_half_export_and_a_rerun_replaces_its_partial(pool, tmp_path, monkeypatch):
    from pixsift.engine.export import job as run

    out = tmp_path / "out"

    def killed(rows, folder, job):
        next(iter(rows))
        raise KeyboardInterrupt  # as a kill would stop it, after a row

    monkeypatch.setitem(run.WRITERS, "webdataset", killed)
    with pytest.raises(KeyboardInterrupt):
        export(pool.store.url, "best", out, "webdataset")
    assert not out.exists() and len(list(tmp_path.glob(".out.partial-*"))) == 1
    monkeypatch.undo()
    summary = export(pool.store.url, "best", out, "webdataset")
    assert (out / MANIFEST).is_file() and summary.n_exported == len(KEPT)
    assert list(tmp_path.glob(".out.partial-*")) == []


def test_an_edit_source_file_beside_a_scored_manifest_is_exported(tmp_path, tiny_config):
    """A real score run: the store records its input files, and an edit's source file in their folder is
    found from them (and one outside them is not)."""
    folder = tmp_path / "pool"
    folder.mkdir()
    for name in ("astronaut", "camera", "coffee"):
        (folder / f"{name}.img").write_bytes(encoded(name))
    (tmp_path / "far.img").write_bytes(encoded("rocket"))
    rows = [
        {"image": "astronaut.img", "caption": "an astronaut"},
        {"image": "camera.img", "caption": "make it a camera", "task": "edit", "source_key": "coffee.img"},
        {
            "image": "coffee.img",
            "caption": "make it coffee",
            "task": "edit",
            "source_key": "../far.img",
        },
    ]
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    score(score_config([str(folder)], tmp_path / "store", tiny_config), io.StringIO())
    store = RunStore.open(str(tmp_path / "store"))
    write_selection(store, "all", [0, 1, 2])
    summary = export(store.url, "all", tmp_path / "out", "jsonl")
    samples = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert [s["key"] for s in samples] == ["astronaut.img", "camera.img"]
    assert (tmp_path / "out" / samples[1]["input_image"][0]).read_bytes() == encoded("coffee")
    assert [e.error for e in summary.errors] == [
        "edit source '../far.img': a file outside the inputs the store was scored from"
    ]
