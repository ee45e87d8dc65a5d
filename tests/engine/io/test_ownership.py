"""What pixsift made is marked; nothing else is written into, replaced or removed."""

from __future__ import annotations

import json
import uuid

import pytest

from pixsift.engine.io.ownership import (
    MARKER,
    assigned_ids,
    check_replaceable,
    claim,
    clear,
    made,
    overlaps,
    refuse_overlap,
    remove,
)


def test_a_new_or_empty_folder_is_claimed_with_a_marker(tmp_path):
    new, empty = tmp_path / "new" / "deep", tmp_path / "empty"
    empty.mkdir()
    for folder in (new, empty):
        id = claim(str(folder), "export", {"format": "hf"})
        marker = json.loads((folder / MARKER).read_text())
        assert marker["kind"] == "export" and marker["id"] == id and marker["settings"] == {"format": "hf"}
        assert claim(str(folder), "export") == id  # taken up again: the same id, the marker kept


def test_a_folder_of_the_users_a_file_and_another_kind_are_refused_untouched(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    (tmp_path / "a-file").write_text("mine")
    claim(str(tmp_path / "store"), "run store")
    cases = {
        "mine": "is not empty and was not made by pixsift",
        "a-file": "is a file",
        "store": "was made by pixsift as a run store, not an export",
    }
    for name, problem in cases.items():
        for act in (claim, check_replaceable, clear, remove):
            with pytest.raises(FileExistsError, match=problem):
                act(str(tmp_path / name), "export")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"
    assert (tmp_path / "a-file").read_text() == "mine"
    assert made(str(tmp_path / "store"))["kind"] == "run store"


def test_clear_keeps_the_marker_and_remove_takes_the_folder(tmp_path):
    folder = tmp_path / "out"
    id = claim(str(folder), "export")
    (folder / "data").mkdir()
    (folder / "data" / "part-0.parquet").write_text("x")
    clear(str(folder), "export")
    assert [p.name for p in folder.iterdir()] == [MARKER] and made(str(folder))["id"] == id
    remove(str(folder), "export", id)
    assert not folder.exists()
    remove(str(folder), "export")  # gone already
    (tmp_path / "empty").mkdir()
    remove(str(tmp_path / "empty"), "export")  # an empty folder not ours is left where it is
    assert (tmp_path / "empty").is_dir()


def test_remove_with_an_id_takes_only_that_jobs_output(tmp_path):
    folder = str(tmp_path / "store")
    with assigned_ids({folder: "a" * 32}):
        assert claim(folder, "run store") == "a" * 32
    with pytest.raises(
        FileExistsError, match=f"another pixsift job \\(its id is {'a' * 32}; this pipeline's is b"
    ):
        remove(folder, "run store", "b" * 32)
    with pytest.raises(FileExistsError, match="state file records none"):
        remove(folder, "run store", "")
    remove(folder, "run store", "a" * 32)
    assert not (tmp_path / "store").exists()


def test_a_marker_that_is_not_ours_counts_as_none(tmp_path):
    for text in ("not json", "[1, 2]", '{"kind": 5, "id": "x"}'):
        folder = tmp_path / uuid.uuid4().hex
        folder.mkdir()
        (folder / MARKER).write_text(text)
        assert made(str(folder)) is None
        with pytest.raises(FileExistsError, match="was not made by pixsift"):
            remove(str(folder), "export")


def test_overlaps_follows_links_and_knows_urls(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    assert overlaps(str(tmp_path / "link" / "store"), str(tmp_path / "data"))
    assert overlaps(str(tmp_path), str(tmp_path / "data" / "x"))
    assert not overlaps(str(tmp_path / "store"), str(tmp_path / "store-report-best"))
    assert overlaps("s3://bucket/runs/", "s3://bucket/runs/store") and not overlaps("s3://b/a", "s3://b/ab")
    with pytest.raises(FileExistsError, match="lies inside the run store"):
        refuse_overlap(str(tmp_path / "data" / "sub"), str(tmp_path / "data"), "the run store")


def test_an_output_at_an_fsspec_url_is_marked_too():
    url = f"memory://own-{uuid.uuid4().hex}/store"
    id = claim(url, "run store")
    assert made(url)["id"] == id
    remove(url, "run store", id)
    assert made(url) is None
