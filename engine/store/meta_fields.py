"""A field of the rows' `meta` JSON (what a generated sample carries beyond the plan columns: its
`image_generator`, `prompt_generator`, `enhancer`) as integer codes, for quotas and the report to count
and group by, as the `category_id` and `style_id` columns serve `category` and `style`.

`meta` is written by json.dumps with its default separators (engine.io.records), so a field's text is
found by one vectorised regular expression per block of rows (pyarrow's extract_regex, in C++) and only
the distinct values are decoded from JSON; a row without the field (or with "") gets -1.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# The provenance fields `pixsift generate` writes into each sample (Fine-T2I's names).
PROVENANCE_FIELDS = ("image_generator", "prompt_generator", "enhancer")


class MetaField:
    """Codes of `name` across blocks of rows: code i is `values[i]`, the same in every block."""

    def __init__(self, name: str):
        self.name = name
        self.values: list[str] = []
        self._codes: dict[str, int] = {}
        self._pattern = rf'"{re.escape(name)}": "(?P<value>(?:[^"\\]|\\.)*)"'

    def codes(self, metas: np.ndarray) -> np.ndarray:
        """int64 code per row of `metas` (the `meta` column's strings)."""
        found = pc.extract_regex(pa.array(metas.tolist(), pa.string()), self._pattern).field("value")
        encoded = pc.dictionary_encode(found)
        texts = encoded.dictionary.to_pylist()
        mapping = np.array([self._code(json.loads(f'"{t}"')) for t in texts] + [-1], np.int64)
        return mapping[encoded.indices.fill_null(len(texts)).to_numpy(zero_copy_only=False)]

    def _code(self, value: str) -> int:
        if not value:
            return -1
        if value not in self._codes:
            self._codes[value] = len(self.values)
            self.values.append(value)
        return self._codes[value]
