"""A field of the rows' meta JSON as codes that agree across blocks, whatever its text holds."""

from __future__ import annotations

import json

import numpy as np

from pixsift.engine.store.meta_fields import MetaField


def metas(*records) -> np.ndarray:
    return np.array([json.dumps(r, ensure_ascii=False) if r is not None else "" for r in records], object)


def test_codes_agree_across_blocks_and_decode_the_json_text():
    field, odd = MetaField("image_generator"), 'sd "b" \\ ü'
    first = field.codes(metas({"image_generator": "sd-a", "seed": 1}, None, {"image_generator": odd}))
    second = field.codes(metas({"image_generator": ""}, {"image_generator": odd}, {"other": "sd-a"}))
    assert first.tolist() == [0, -1, 1] and second.tolist() == [-1, 1, -1]
    assert field.values == ["sd-a", odd]


def test_an_empty_block_has_no_codes():
    assert MetaField("enhancer").codes(np.array([], object)).tolist() == []
