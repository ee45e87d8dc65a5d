"""Writing tar files whose bytes depend only on their members, so the same samples give the same file."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path


class DeterministicTar:
    """A USTAR tar whose bytes depend only on its members: TarInfo's defaults are mtime 0, uid/gid 0, no
    owner names and mode 0644, and members go in the order they are added (callers add them sorted)."""

    def __init__(self, path: Path):
        self._tar = tarfile.open(path, "w", format=tarfile.USTAR_FORMAT)

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> DeterministicTar:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
