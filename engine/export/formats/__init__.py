"""The export formats: one module per format, named as the format, each with a `write(rows, out, job)`
(engine.export.base.Writer). Adding a format is adding a module here: it is found by its file."""

from __future__ import annotations

import importlib
import pkgutil

from pixsift.engine.export.base import Writer


def writers() -> dict[str, Writer]:
    """Every format module of this package, by name: its `write`."""
    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {name: importlib.import_module(f"{__name__}.{name}").write for name in names}


WRITERS = writers()
FORMATS = tuple(WRITERS)
