import csv
import json
import uuid
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pixsift.engine.io.tar_scan
from pixsift.engine.core.candidates import PlanEntry, error_kind
from pixsift.engine.io.paths import expand_braces, expand_inputs
from pixsift.engine.io.records import make_entry
from pixsift.engine.io.sources import read_candidates, scan, within_failure_limit
from tests.helpers.candidate_pools import caption_json, photo, photo_names, tar_bytes, write_tar

REPO = Path(__file__).resolve().parents[3]


def kinds(entries) -> dict[str, str]:
    return {e.key: error_kind(e.error) for e in entries}


# -- WebDataset shards ----------------------------------------------------------------------------


def three_shards(folder: Path) -> dict[str, bytes]:
    """shard-000..002, two samples each: .jpg/.png with .txt, or with .json carrying metadata."""
    images = {}
    for s in range(3):
        members = []
        for i in range(2):
            key, name = f"{s:03d}{i:03d}", photo_names()[(s + i) % 4]
            ext = "png" if name == "coffee" else "jpg"
            members.append((f"{key}.{ext}", photo(name)))
            if i == 0:
                members.append((f"{key}.txt", f"a photo of {name}".encode()))
            else:
                meta = dict(
                    group=f"g{s}",
                    task="t2i",
                    category="animals",
                    style="photo",
                    source_key=f"src-{s}",
                    seed=s,
                )
                members.append((f"{key}.json", caption_json(f"the {name}", **meta, unused="x")))
            images[f"shard-{s:03d}/{key}"] = photo(name)
        write_tar(folder / f"shard-{s:03d}.tar", members)
    return images


def test_brace_pattern_over_three_shards_lists_every_sample_in_order(tmp_path):
    images = three_shards(tmp_path)
    entries = list(scan([str(tmp_path / "shard-{000..002}.tar")]))

    assert [e.key for e in entries] == list(images)
    assert entries[0] == PlanEntry(
        "shard-000/000000",
        "a photo of astronaut",
        str(tmp_path / "shard-000.tar"),
        entries[0].offset,
        len(photo("astronaut")),
    )
    assert entries[3] == PlanEntry(
        "shard-001/001001",
        "the coffee",
        str(tmp_path / "shard-001.tar"),
        entries[3].offset,
        len(photo("coffee")),
        group="g1",
        task="t2i",
        category="animals",
        style="photo",
        source_key="src-1",
        seed=1,
        meta='{"unused": "x"}',  # every other field of the sample is kept
    )
    assert [c.data for c in read_candidates(entries)] == list(images.values())
    assert all(not c.error for c in read_candidates(entries))
    assert list(scan([str(tmp_path / "shard-{000..002}.tar")])) == entries
    assert list(scan([str(tmp_path)])) == entries  # a folder of shards is its shards in name order


def test_memory_url_shard_is_scanned_and_read(tmp_path):
    url = f"memory://pool-{uuid.uuid4().hex}/shard-7.tar"
    with fsspec.open(url, "wb") as f:
        f.write(
            tar_bytes(
                [
                    ("a.jpg", photo("chelsea")),
                    ("a.txt", b"a cat"),
                    ("b.png", photo("coffee")),
                    ("b.txt", b"coffee"),
                ]
            )
        )
    entries = list(scan([url]))
    assert [(e.key, e.caption, e.source) for e in entries] == [
        ("shard-7/a", "a cat", url),
        ("shard-7/b", "coffee", url),
    ]
    assert [c.data for c in read_candidates(entries)] == [photo("chelsea"), photo("coffee")]


def test_scan_reads_tar_headers_and_captions_but_not_images(tmp_path, monkeypatch):
    members = [(f"{i}.jpg", photo(name, side=256)) for i, name in enumerate(photo_names())]
    members = [m for i, image in enumerate(members) for m in (image, (f"{i}.txt", b"caption"))]
    shard = write_tar(tmp_path / "big.tar", members)
    read = []

    class CountingFile:
        def __init__(self, f):
            self.f = f

        def read(self, size=-1):
            chunk = self.f.read(size)
            read.append(len(chunk))
            return chunk

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    real_open = pixsift.engine.io.tar_scan.open_binary
    monkeypatch.setattr(pixsift.engine.io.tar_scan, "open_binary", lambda path: CountingFile(real_open(path)))
    assert len(list(scan([str(shard)]))) == 4
    image_bytes = sum(len(payload) for name, payload in members if name.endswith(".jpg"))
    assert sum(read) < 16 * 1024 < image_bytes / 4


def test_bad_samples_keep_a_row_with_a_specific_error(tmp_path):
    jpg = photo("astronaut")
    shard = write_tar(
        tmp_path / "bad.tar",
        [
            ("good.jpg", jpg),
            ("good.txt", b"fine"),
            ("__meta__/info.json", b"{}"),
            ("nocaption.jpg", jpg),
            ("noimage.txt", b"a caption without its image"),
            ("badtext.jpg", jpg),
            ("badtext.txt", b"caf\xe9 \xff"),
            ("badjson.jpg", jpg),
            ("badjson.json", b"{oops"),
            ("badseed.jpg", jpg),
            ("badseed.json", caption_json("x", seed="abc")),
            ("dup.jpg", jpg),
            ("dup.txt", b"first"),
            ("other.jpg", jpg),
            ("other.txt", b"o"),
            ("dup.jpg", jpg),
            ("dup.txt", b"second"),
        ],
    )
    entries = list(scan([str(shard)]))
    assert kinds(entries) == {
        "bad/good": "",
        "bad/nocaption": "missing_caption",
        "bad/noimage": "missing_image",
        "bad/badtext": "bad_utf8",
        "bad/badjson": "bad_json",
        "bad/badseed": "bad_meta",
        "bad/dup": "",
        "bad/other": "",
        "bad/dup#2": "duplicate_key",
    }
    by_key = {e.key: e for e in entries}
    assert by_key["bad/badtext"].caption == "caf\ufffd \ufffd"
    assert "byte 3" in by_key["bad/badtext"].error and "badtext.txt" in by_key["bad/badtext"].error
    assert by_key["bad/dup#2"].caption == "second"
    candidates = {c.key: c for c in read_candidates(entries)}
    assert candidates["bad/good"].data == jpg and candidates["bad/noimage"].data == b""
    assert candidates["bad/noimage"].error == by_key["bad/noimage"].error


def test_truncated_and_corrupt_tars_report_the_damage(tmp_path):
    whole = tar_bytes(
        [("a.jpg", photo("chelsea")), ("a.txt", b"cat"), ("b.jpg", photo("camera")), ("b.txt", b"man")]
    )
    truncated = write_tar(tmp_path / "truncated.tar", [])
    header_of_b = whole.index(b"b.jpg")
    truncated.write_bytes(whole[: header_of_b + 512 + len(photo("camera")) // 2])
    corrupt = tmp_path / "corrupt.tar"
    corrupt.write_bytes(whole[:header_of_b] + b"\x01" * 512 + whole[header_of_b + 512 :])

    entries = list(scan([str(truncated), str(corrupt)]))
    assert [(e.key.split("#")[0], error_kind(e.error)) for e in entries] == [
        ("truncated/a", ""),
        ("truncated/b", "missing_caption"),
        ("truncated/", "bad_tar"),
        ("corrupt/a", ""),
        ("corrupt/", "bad_tar"),
    ]
    assert "ends inside a member" in entries[2].error and "invalid tar header" in entries[4].error
    read = list(read_candidates(entries[:2]))
    assert read[0].data == photo("chelsea") and error_kind(read[1].error) == "missing_caption"
    short = PlanEntry("truncated/b", "man", str(truncated), entries[1].offset, entries[1].length)
    assert error_kind(next(read_candidates([short])).error) == "short_read"


# -- folders and manifests ------------------------------------------------------------------------


ROWS = [
    {"key": "astro", "image": "photos/astronaut.jpg", "caption": "an astronaut", "group": "g1", "seed": 5},
    {"key": None, "image": "photos/chelsea.jpg", "caption": "a cat", "group": None, "seed": None},
]


def write_photos(folder: Path) -> None:
    (folder / "photos").mkdir(parents=True)
    for name in ("astronaut", "chelsea"):
        (folder / "photos" / f"{name}.jpg").write_bytes(photo(name))


def write_table(path: Path, rows: list[dict]) -> None:
    if path.suffix == ".jsonl":
        path.write_text(
            "".join(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows)
        )
    elif path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_folder_with_a_captions_file(tmp_path, suffix):
    write_photos(tmp_path)
    write_table(tmp_path / f"captions{suffix}", ROWS)
    entries = list(scan([str(tmp_path)]))
    assert entries == [
        PlanEntry("astro", "an astronaut", str(tmp_path / "photos/astronaut.jpg"), group="g1", seed=5),
        PlanEntry("photos/chelsea.jpg", "a cat", str(tmp_path / "photos/chelsea.jpg")),
    ]
    assert [c.data for c in read_candidates(entries)] == [photo("astronaut"), photo("chelsea")]


def test_manifest_with_relative_absolute_missing_and_bad_rows(tmp_path):
    write_photos(tmp_path)
    (tmp_path / "lists").mkdir()
    manifest = tmp_path / "lists" / "pool.jsonl"
    lines = [
        json.dumps({"image": "../photos/astronaut.jpg", "caption": "relative", "style": "photo"}).encode(),
        json.dumps({"image": str(tmp_path / "photos/chelsea.jpg"), "caption": "absolute"}).encode(),
        json.dumps({"image": "../photos/gone.jpg", "caption": "missing"}).encode(),
        b"{not json",
        b'{"image": "../photos/chelsea.jpg", "caption": "caf\xe9"}',
        json.dumps({"key": "k6", "image": "../photos/chelsea.jpg"}).encode(),
        json.dumps({"key": "k7", "caption": "no image"}).encode(),
        json.dumps({"key": "k8", "image": "../photos/chelsea.jpg", "caption": "c", "seed": "x"}).encode(),
    ]
    manifest.write_bytes(b"\n".join(lines) + b"\n")
    refused = list(scan([str(manifest)]))  # by default a manifest names only images in its folder
    assert [error_kind(e.error) for e in refused[:3]] == ["outside_input"] * 3
    assert "photos/astronaut.jpg is outside the manifest's folder" in refused[0].error
    entries = list(scan([str(manifest)], allow_outside=True))
    assert [(e.key, error_kind(e.error)) for e in entries] == [
        ("../photos/astronaut.jpg", ""),
        (str(tmp_path / "photos/chelsea.jpg"), ""),
        ("../photos/gone.jpg", "missing_file"),
        ("pool.jsonl#4", "bad_row"),
        ("../photos/chelsea.jpg", "bad_utf8"),
        ("k6", "missing_caption"),
        ("k7", "bad_row"),
        ("k8", "bad_meta"),
    ]
    assert entries[0].source == str(tmp_path / "photos/astronaut.jpg") and entries[0].style == "photo"
    assert "gone.jpg does not exist" in entries[2].error and "row 4" in entries[3].error
    assert entries[4].caption == "caf\ufffd"
    read = list(read_candidates(entries))
    assert read[0].data == photo("astronaut") and read[1].data == photo("chelsea")
    assert [c.data for c in read[2:]] == [b""] * 6


def test_csv_caption_that_is_not_utf8(tmp_path):
    write_photos(tmp_path)
    (tmp_path / "m.csv").write_bytes(b"image,caption\nphotos/chelsea.jpg,na\xefve cat\n")
    [entry] = scan([str(tmp_path / "m.csv")])
    assert error_kind(entry.error) == "bad_utf8" and entry.caption == "na\ufffdve cat"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_columns_match_in_any_case_and_can_be_named(tmp_path, suffix):
    write_photos(tmp_path)
    rows = [{"IMAGE": "photos/chelsea.jpg", "TEXT": "a cat", "Description": "a tabby cat", "Style": "photo"}]
    path = tmp_path / f"m{suffix}"
    write_table(path, rows)
    [entry] = scan([str(path)])
    assert (entry.source, entry.caption, entry.style) == (
        str(tmp_path / "photos/chelsea.jpg"),
        "a cat",
        "photo",
    )
    assert not entry.error
    [entry] = scan([str(path)], columns={"caption": "Description"})
    assert entry.caption == "a tabby cat" and not entry.error


@pytest.mark.parametrize("suffix", [".parquet", ".arrow"])
def test_embedded_images_in_a_column_whose_name_holds_a_hash(tmp_path, suffix):
    folder = tmp_path / "in#2"
    folder.mkdir()
    table = pa.table(
        {
            "img#1": [{"bytes": photo(n), "path": f"{n}.png"} for n in ("astronaut", "chelsea")],
            "caption": ["an astronaut", "a cat"],
        }
    )
    path = folder / f"m{suffix}"
    if suffix == ".parquet":
        pq.write_table(table, path)
    else:
        with pa.ipc.new_stream(str(path), table.schema) as writer:
            writer.write_table(table)
    entries = list(scan([str(path)], columns={"image": "img#1"}))
    assert not any(e.error for e in entries)
    assert [c.data for c in read_candidates(entries)] == [photo("astronaut"), photo("chelsea")]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_named_column_the_table_lacks_is_refused_naming_the_flag(tmp_path, suffix):
    """Never read from another column instead (the table's own `caption` is not a fallback)."""
    write_photos(tmp_path)
    path = tmp_path / f"m{suffix}"
    write_table(path, [{"image": "photos/chelsea.jpg", "caption": "a cat"}])
    for named, flag in (({"caption": "caption_text"}, "--caption-col caption_text"),
                        ({"image": "filenme"}, "--image-col filenme")):  # fmt: skip
        with pytest.raises(ValueError) as refused:
            list(scan([str(path)], columns=named))
        assert str(refused.value) == (
            f"{flag}: table {path} has no column {flag.split()[1]!r} (columns: image, caption)"
        )


def test_a_table_without_a_caption_column_is_refused_before_planning(tmp_path):
    write_photos(tmp_path)
    write_table(tmp_path / "m.parquet", [{"image": "photos/chelsea.jpg", "notes": "a cat"}])
    with pytest.raises(ValueError) as refused:
        list(scan([str(tmp_path / "m.parquet")]))
    assert str(refused.value) == (
        f"table {tmp_path / 'm.parquet'}: has no 'caption' column (nor 'text', 'prompt'), in any case "
        "(columns: image, notes); name the columns to read with --image-col and --caption-col (a table of "
        "image URLs is downloaded first: pixsift download)"
    )
    [entry] = scan([str(tmp_path / "m.parquet")], columns={"caption": "notes"})
    assert entry.caption == "a cat" and not entry.error


def test_a_table_of_web_urls_is_one_line_pointing_to_download(tmp_path):
    """LAION's layout: `URL` and `TEXT`; named as the image column, the first web address stops the scan."""
    table = tmp_path / "laion.parquet"
    write_table(table, [{"URL": "https://example.com/a.jpg", "TEXT": "a cat"}])
    with pytest.raises(ValueError, match="pixsift download"):
        list(scan([str(table)]))
    with pytest.raises(ValueError) as refused:
        list(scan([str(table)], columns={"image": "URL"}))
    assert str(refused.value) == (
        f"{table} row 1: the image https://example.com/a.jpg is a web address, and pixsift scores images it "
        f"can read; download the table's images with `pixsift download --input {table} --to DIR`, then "
        "score DIR"
    )


def test_a_scan_where_most_candidates_fail_is_refused_after_its_last_entry():
    entries = [PlanEntry(f"k{i}", "c", "s", error="missing_file: s: gone" if i < 3 else "") for i in range(5)]
    assert list(within_failure_limit(entries, 0.6, "inputs x")) == entries  # 3 of 5 is not above 0.6
    seen = []
    with pytest.raises(ValueError) as refused:
        seen.extend(within_failure_limit(entries, 0.5, "inputs x"))
    assert seen == entries  # every entry went by before the refusal: the plan is never marked complete
    assert str(refused.value) == (
        "inputs x: 3 of 5 candidates (60%) cannot be read (missing_file 3; first: missing_file: s: gone); "
        "fix the inputs, or raise --max-scan-failures (now 0.5) to score them anyway"
    )
    assert list(within_failure_limit([], 0.0, "inputs x")) == []


def test_hugging_face_parquet_with_embedded_images(tmp_path):
    """The layout `datasets` writes for an Image feature: {bytes, path} structs, in several row groups; a
    struct with only a path names an image file beside the table."""
    rows = [
        {"image": {"bytes": photo("astronaut"), "path": "astronaut.jpg"}, "Text": "an astronaut"},
        {"image": {"bytes": None, "path": "elsewhere.jpg"}, "Text": "only a path"},
        {"image": {"bytes": photo("chelsea"), "path": None}, "Text": "a cat"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train-00000.parquet", row_group_size=2)
    entries = list(scan([str(tmp_path / "train-00000.parquet")]))
    source = f"{tmp_path / 'train-00000.parquet'}#image"
    assert [(e.key, e.caption, e.source, e.offset) for e in entries] == [
        ("astronaut.jpg", "an astronaut", source, 0),
        ("elsewhere.jpg", "only a path", str(tmp_path / "elsewhere.jpg"), 0),
        ("train-00000.parquet#3", "a cat", source, 2),
    ]
    read = list(read_candidates(entries))
    assert read[0].data == photo("astronaut") and read[2].data == photo("chelsea")
    table, image = tmp_path / "train-00000.parquet", tmp_path / "elsewhere.jpg"
    assert read[1].error == f"missing_file: {table} row 2: image {image} does not exist"
    assert error_kind(list(read_candidates(entries, max_bytes=100))[0].error) == "too_large"


THREE = ("astronaut", "chelsea", "coffee")


def save_to_disk(folder: Path, splits: dict[str, list[str]]) -> None:
    """What `datasets` writes: a Dataset, or a DatasetDict of splits, with an Image feature."""
    datasets = pytest.importorskip("datasets")

    def split(names: list[str]):
        rows = {
            "image": [{"bytes": photo(n), "path": None} for n in names],
            "TEXT": [f"a {n}" for n in names],
        }
        return datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())

    if list(splits) == [""]:
        split(splits[""]).save_to_disk(str(folder), num_shards=2)
    else:
        datasets.DatasetDict({name: split(names) for name, names in splits.items()}).save_to_disk(str(folder))


def test_a_datasets_save_to_disk_folder_is_read_in_its_order(tmp_path):
    save_to_disk(tmp_path / "ds", {"": ["astronaut", "chelsea", "coffee"]})  # two Arrow files
    entries = list(scan([str(tmp_path / "ds")]))
    assert [(e.key, e.caption, e.offset) for e in entries] == [
        ("ds/data-00000-of-00002.arrow#1", "a astronaut", 0),
        ("ds/data-00000-of-00002.arrow#2", "a chelsea", 1),
        ("ds/data-00001-of-00002.arrow#1", "a coffee", 0),
    ]
    assert [c.data for c in read_candidates(entries)] == [
        photo(n) for n in ("astronaut", "chelsea", "coffee")
    ]


def test_a_datasets_dict_folder_reads_each_split(tmp_path):
    save_to_disk(tmp_path / "dd", {"train": ["astronaut", "chelsea"], "test": ["coffee"]})
    entries = list(scan([str(tmp_path / "dd")]))
    assert [e.key for e in entries] == [
        "train/data-00000-of-00001.arrow#1",
        "train/data-00000-of-00001.arrow#2",
        "test/data-00000-of-00001.arrow#1",
    ]  # the splits in the order dataset_dict.json lists them; keys apart though the files share a name
    assert [c.data for c in read_candidates(entries)] == [
        photo(n) for n in ("astronaut", "chelsea", "coffee")
    ]
    (tmp_path / "dd" / "dataset_dict.json").write_text("{")
    with pytest.raises(ValueError, match=r"dataset_dict.json: not a datasets file with a 'splits' list"):
        list(scan([str(tmp_path / "dd")]))


def test_files_a_datasets_folder_names_outside_itself_are_outside_input_rows(tmp_path):
    save_to_disk(tmp_path / "secret_ds", {"": ["astronaut", "chelsea", "coffee"]})
    secret = sorted((tmp_path / "secret_ds").glob("*.arrow"))
    save_to_disk(tmp_path / "in" / "ds", {"": ["camera", "camera"]})
    state = json.loads((tmp_path / "in" / "ds" / "state.json").read_text())
    state["_data_files"] = [{"filename": f"../../secret_ds/{p.name}"} for p in secret]
    (tmp_path / "in" / "ds" / "state.json").write_text(json.dumps(state))
    save_to_disk(tmp_path / "in" / "dd", {"train": ["camera"]})
    splits = {"splits": ["train", "../../secret_ds"]}
    (tmp_path / "in" / "dd" / "dataset_dict.json").write_text(json.dumps(splits))
    (tmp_path / "in" / "linked").mkdir()
    (tmp_path / "in" / "linked" / "data.arrow").symlink_to(secret[0])
    (tmp_path / "secret_captions.jsonl").write_text('{"image": "a.png", "caption": "a secret caption"}\n')
    (tmp_path / "in" / "captions").mkdir()
    (tmp_path / "in" / "captions" / "captions.jsonl").symlink_to(tmp_path / "secret_captions.jsonl")
    for folder, n_outside in (("ds", 2), ("dd", 2), ("linked", 1), ("captions", 1)):
        entries = list(scan([str(tmp_path / "in" / folder)]))
        outside = [e for e in entries if e.error]
        assert len(outside) == n_outside and all(error_kind(e.error) == "outside_input" for e in outside)
        assert all(f"named by the input folder {tmp_path / 'in' / folder}" in e.error for e in outside)
        assert not any("secret caption" in e.caption for e in entries)
        read = [c.data for c in read_candidates(entries) if not c.error]
        assert all(data not in read for data in (photo("astronaut"), photo("chelsea"), photo("coffee")))
    entries = list(scan([str(tmp_path / "in" / "linked")], allow_outside=True))
    assert not any(e.error for e in entries)


def test_bundled_sample_pool():
    entries = list(scan([str(REPO / "samples")]))
    assert [e.key for e in entries][:3] == ["astronaut", "astronaut-again", "chelsea"] and len(entries) == 11
    candidates = {c.key: c for c in read_candidates(entries)}
    assert candidates.pop("missing").error.startswith("missing_file: ")
    assert all(not c.error and c.data[:2] == b"\xff\xd8" for c in candidates.values())  # truncated too


# -- reading and inputs ---------------------------------------------------------------------------


def test_read_failures_are_candidate_errors(tmp_path):
    image = tmp_path / "a.jpg"
    image.write_bytes(photo("camera"))
    entries = [
        PlanEntry("ok", "c", str(image)),
        PlanEntry("gone", "c", f"memory://nowhere-{uuid.uuid4().hex}/x.jpg"),
        PlanEntry("short", "c", str(image), 10, len(photo("camera"))),
        PlanEntry("planned-bad", "c", str(image), error="missing_caption: x"),
        PlanEntry("ok-again", "c", str(image)),
    ]
    read = list(read_candidates(entries))
    assert [error_kind(c.error) for c in read] == ["", "read", "short_read", "missing_caption", ""]
    assert "nowhere" in read[1].error and "FileNotFoundError" in read[1].error
    assert read[0].data == read[4].data == photo("camera") and read[1].data == read[3].data == b""


def test_brace_expansion():
    assert expand_braces("s-{000..002}.tar") == ["s-000.tar", "s-001.tar", "s-002.tar"]
    assert expand_braces("{a,b{1..2}}/{9..10}") == ["a/9", "a/10", "b1/9", "b1/10", "b2/9", "b2/10"]
    assert expand_braces("x{3..1}") == ["x3", "x2", "x1"]
    with pytest.raises(ValueError, match="unmatched"):
        expand_braces("s-{0..2.tar")
    with pytest.raises(ValueError, match="range a..b or a list"):
        expand_braces("s-{x}.tar")


def test_inputs_that_cannot_be_scanned_raise_naming_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.tar"):
        list(scan([str(tmp_path / "missing.tar")]))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="notes.txt"):
        list(scan([str(tmp_path / "notes.txt")]))
    with pytest.raises(ValueError, match="has none of captions"):
        list(scan([str(tmp_path)]))
    with pytest.raises(FileNotFoundError, match=r"\*.tar"):
        expand_inputs([str(tmp_path / "*.tar")])
    (tmp_path / "m.csv").write_text("path,caption\na.jpg,x\n")
    with pytest.raises(ValueError, match="no 'image' column"):
        list(scan([str(tmp_path / "m.csv")]))
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        write_tar(tmp_path / sub / "s.tar", [("x.jpg", photo("camera")), ("x.txt", b"c")])
    with pytest.raises(ValueError, match="share the shard name"):
        list(scan([str(tmp_path / "{a,b}/s.tar")]))


@pytest.mark.parametrize(
    ("seed", "kept", "kind"),
    [
        (2**63 - 1, 2**63 - 1, ""),
        (2**53 + 1, 2**53 + 1, ""),
        ("12", 12, ""),
        (3.0, 3, ""),
        (2**63, -1, "bad_meta"),
    ],
)
def test_seeds_are_kept_exactly_over_the_whole_64_bit_range(seed, kept, kind):
    entry = make_entry("k", "a caption", "source", 0, 0, {"seed": seed}, "row 1")
    assert (entry.seed, error_kind(entry.error)) == (kept, kind)
