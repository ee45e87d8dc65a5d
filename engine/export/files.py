"""Files of an export: sample names, image file names, deterministic tar members, checksummed entries."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Image formats whose usual file extension differs from the format name.
_EXTENSIONS = {"jpeg": "jpg", "tiff": "tif"}


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the export folder; a folder for a set of image files
    samples: int
    bytes: int
    sha256: str  # of the file; of a folder, over its files' names and checksums in name order


def sample_name(index: int) -> str:
    return f"{index:09d}"


def shard_name(shard: int) -> str:
    return f"{shard:06d}"


def extension(image_format: str) -> str:
    return _EXTENSIONS.get(image_format, image_format) or "img"


def file_entry(root: Path, path: Path, samples: int) -> FileEntry:
    return FileEntry(str(path.relative_to(root)), samples, path.stat().st_size, _sha256(path))


def folder_entry(root: Path, folder: Path, samples: int) -> FileEntry:
    """One entry for a folder of image files: a manifest line per image would outgrow the export."""
    digest, size = hashlib.sha256(), 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}\0{_sha256(path)}\n".encode())
        size += path.stat().st_size
    return FileEntry(str(folder.relative_to(root)), samples, size, digest.hexdigest())


def dataset_card(out: Path, data_files: str, format: str, features: dict | None = None) -> FileEntry:
    """A README.md whose `configs` section names `data_files` as the train split, so that
    `datasets.load_dataset(out)` reads those and not the image files beside them; with `features` (name ->
    a `datasets` dtype, or a dict of them for a struct) declared, so that it infers none."""
    info = f"dataset_info:\n  features:\n{_features_yaml(features, '  ')}" if features else ""
    card = out / "README.md"
    card.write_text(
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n"
        f"    path: {json.dumps(data_files)}\n{info}---\n"
        f"Exported by `pixsift export --format {format}`; `.pixsift-manifest.json` lists the files with "
        "their checksums.\n"
    )
    return file_entry(out, card, 0)


def _features_yaml(features: dict, indent: str) -> str:
    lines = []
    for name, dtype in features.items():
        lines.append(f"{indent}- name: {json.dumps(name)}")
        if isinstance(dtype, dict):
            lines.append(f"{indent}  struct:\n{_features_yaml(dtype, indent + '  ').rstrip()}")
        else:
            lines.append(f"{indent}  dtype: {dtype}")
    return "\n".join(lines) + "\n"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class ImageFolder:
    """Image files under `images/<shard>/<sample>.<ext>` of an export, counted per shard folder."""

    def __init__(self, out: Path, shard_size: int):
        self.out = out
        self.shard_size = shard_size
        self._counts: Counter[str] = Counter()

    def write(self, index: int, image_format: str, data: bytes) -> str:
        """Write one sample's image; its path relative to the export folder."""
        shard = shard_name(index // self.shard_size)
        path = self.out / "images" / shard / f"{sample_name(index)}.{extension(image_format)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self._counts[shard] += 1
        return str(path.relative_to(self.out))

    def entries(self) -> list[FileEntry]:
        return [folder_entry(self.out, self.out / "images" / s, n) for s, n in sorted(self._counts.items())]
