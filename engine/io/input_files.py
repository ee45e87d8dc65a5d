"""The files the inputs resolve to: what a run store plans, and records to see new and changed inputs.

An input path is a tar shard, a table (a manifest: Parquet, JSONL, CSV, Arrow) or a folder:

    a folder with captions.jsonl/.parquet/.csv      that file, a manifest of the folder's images
    a Hugging Face imagefolder                      its metadata.csv/.jsonl/.parquet (images in `file_name`),
                                                    or, without one, each split folder's (train/, test/, ...)
    an img2dataset output folder (*_stats.json)     its .tar shards, each with its status table
                                                    <shard>.parquet, whose failed URLs become rows with
                                                    their reason
    a `pixsift download` folder                     its img2dataset output folder, `shards/`
    a `datasets.save_to_disk` folder                its Arrow files (a DatasetDict's splits in their order)
    any other folder                                its .tar shards and .parquet/.arrow tables in name order

A file that the folder's metadata names, or a link in it, must lie inside the folder (links followed)
unless the run allows it; one that does not is refused (`InputFile.refused`), as a row, not an error.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

from fsspec.core import url_to_fs

from pixsift.engine.core.errors import BadInput
from pixsift.engine.io.download_layout import DOWNLOAD_KIND, DOWNLOAD_SHARDS, STATS_SUFFIX
from pixsift.engine.io.ownership import made
from pixsift.engine.io.paths import input_root, inside, is_local, open_binary
from pixsift.engine.io.rows import SUFFIXES, is_table

CAPTION_FILES = tuple(f"captions{suffix}" for suffix in SUFFIXES)  # the manifest of an image folder
METADATA_FILES = ("metadata.csv", "metadata.jsonl", "metadata.parquet")  # Hugging Face imagefolder
IMAGEFOLDER_COLUMN = "file_name"


@dataclass(frozen=True)
class InputFile:
    path: str  # a .tar shard or a table
    refused: str = ""  # why it is not read (it lies outside its input folder); "" when it is read
    image_column: str = ""  # the table's image column when its layout names it (imagefolder: file_name)
    status_table: str = ""  # an img2dataset shard's status table: every URL of the shard, with why it failed


def input_files(paths: list[str], allow_outside: bool = False) -> list[InputFile]:
    """The files of the expanded input `paths`, in order (see the module docstring)."""
    return [file for given in paths for file in _files_of(given, allow_outside)]


def fingerprint(path: str) -> dict:
    """What tells that a file changed: its size, and its modification time or ETag where the file system
    gives them."""
    fs, fs_path = url_to_fs(path)
    info = fs.info(fs_path)
    found = {"size": info.get("size")}
    for key in ("mtime", "LastModified", "last_modified", "ETag", "etag", "md5Hash"):
        if info.get(key) is not None:
            found[key.lower()] = str(info[key])
    return found


def _files_of(given: str, allow_outside: bool) -> Iterator[InputFile]:
    if given.endswith(".tar") or is_table(given):
        yield InputFile(given)
        return
    if not is_folder(given):
        raise BadInput(given, "not a .tar shard, a folder or a .jsonl/.parquet/.csv/.arrow manifest")
    files = _folder_files(given)
    roots = [input_root(given)]
    for file in files:
        named = [p for p in (file.path, file.status_table) if p]
        outside = [p for p in named if is_local(p) and not allow_outside and not inside(p, roots)]
        if outside:
            yield InputFile(
                outside[0], f"{outside[0]}: named by the input folder {given}, but lies outside it"
            )
        else:
            yield file


def _folder_files(folder: str) -> list[InputFile]:
    names = _listing(folder)
    join = lambda name: posixpath.join(folder, name)  # noqa: E731
    if found := [name for name in CAPTION_FILES if name in names]:
        if len(found) > 1:
            raise BadInput(f"image folder {folder}", f"has more than one of {', '.join(CAPTION_FILES)}")
        return [InputFile(join(found[0]))]
    if metadata := _metadata_files(folder, names):
        return metadata
    if DOWNLOAD_SHARDS in names and (made(folder) or {}).get("kind") == DOWNLOAD_KIND:
        return _folder_files(join(DOWNLOAD_SHARDS))
    if "dataset_dict.json" in names:
        splits = _json_key(folder, "dataset_dict.json", "splits")
        return [file for split in splits for file in _folder_files(join(str(split)))]
    if "state.json" in names and "dataset_info.json" in names:
        files = _json_key(folder, "state.json", "_data_files")
        return [InputFile(join(str(f.get("filename")))) for f in files if isinstance(f, dict)]
    shards = sorted(name for name in names if name.endswith(".tar"))
    if any(name.endswith(STATS_SUFFIX) for name in names):  # img2dataset's output
        return [InputFile(join(name), status_table=_status_table(name, names, folder)) for name in shards]
    tables = [n for n in sorted(names) if n.endswith((".tar", ".parquet", ".arrow"))]
    if not tables:
        raise BadInput(
            f"image folder {folder}",
            f"has none of {', '.join(CAPTION_FILES + METADATA_FILES)}, and no .tar shards or .parquet/.arrow "
            "tables",
        )
    return [InputFile(join(name)) for name in tables]


def _metadata_files(folder: str, names: dict[str, bool]) -> list[InputFile]:
    """A Hugging Face imagefolder's metadata file, or, without one at the top, its split folders' (in name
    order); [] for a folder that is not one. `names` is the folder's listing (`_listing`)."""
    found = [name for name in METADATA_FILES if name in names]
    if len(found) > 1:
        raise BadInput(f"imagefolder {folder}", f"has more than one of {', '.join(METADATA_FILES)}")
    if found:
        return [InputFile(posixpath.join(folder, found[0]), image_column=IMAGEFOLDER_COLUMN)]
    splits = []
    for name in sorted(n for n, is_dir in names.items() if is_dir):
        split = posixpath.join(folder, name)
        inner = _listing(split)
        if any(m in inner for m in METADATA_FILES):
            splits += _metadata_files(split, inner)
    return splits


def _listing(folder: str) -> dict[str, bool]:
    """The names in `folder`, each with whether it is a folder: one listing call, no call per name."""
    fs, fs_path = url_to_fs(folder)
    return {
        posixpath.basename(i["name"].rstrip("/")): i["type"] == "directory"
        for i in fs.ls(fs_path, detail=True)
    }


def _status_table(shard: str, names: dict[str, bool], folder: str) -> str:
    table = shard.removesuffix(".tar") + ".parquet"
    if table not in names:
        raise BadInput(
            posixpath.join(folder, shard),
            f"an img2dataset shard without its status table {table}",
            "run the download again to finish it",
        )
    return posixpath.join(folder, table)


def is_folder(path: str) -> bool:
    fs, fs_path = url_to_fs(path)
    return fs.isdir(fs_path)


def _json_key(folder: str, name: str, key: str) -> list:
    """The list under `key` in the JSON file `name` of a `datasets.save_to_disk` folder."""
    where = posixpath.join(folder, name)
    try:
        with open_binary(where) as f:
            value = json.loads(f.read())[key]
    except (ValueError, KeyError, TypeError, OSError):
        raise BadInput(where, f"not a datasets file with a {key!r} list") from None
    if not isinstance(value, list):
        raise BadInput(where, f"not a datasets file with a {key!r} list")
    return value
