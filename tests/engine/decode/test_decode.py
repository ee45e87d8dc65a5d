"""One batch holding every format, mode and kind of bad input, decoded by DALI's CPU pipeline and by PIL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.decode.decoders import make_decoder
from engine.decode.probe import ImageLimits
from tests.helpers.image_blobs import BAD, BLOBS, GOOD, JPEG, NAMES


@pytest.fixture(scope="module", params=["dali", "pil"])
def decoder(request):
    decoder = make_decoder(request.param, "cpu", threads=2)
    yield decoder
    decoder.close()


@pytest.fixture(scope="module")
def results(decoder):
    return dict(zip(NAMES, decoder.decode(BLOBS), strict=True))


def test_every_blob_gets_one_result(decoder):
    assert len(decoder.decode(BLOBS)) == len(BLOBS)


@pytest.mark.parametrize("name", GOOD)
def test_good_blob_decodes_to_its_pixels(results, name):
    blob, expected, tolerance = GOOD[name]
    result = results[name]
    assert result.error == "" and result.ok
    image = result.image
    assert image.dtype == torch.uint8 and image.shape == (3, *expected.shape[:2])
    assert (result.height, result.width, result.byte_size) == (*expected.shape[:2], len(blob))
    assert np.abs(image.permute(1, 2, 0).numpy().astype(int) - expected).max() <= tolerance


@pytest.mark.parametrize("name", BAD)
def test_bad_blob_carries_its_reason(results, name):
    blob, reason = BAD[name]
    result = results[name]
    assert result.image is None and not result.ok
    assert result.error.startswith(reason) if reason.endswith(("(", ": ")) else result.error == reason
    assert result.byte_size == len(blob)


def test_format_and_header_size_are_reported(results):
    assert [results[n].format for n in ("jpeg rgb", "png rgba", "webp lossy", "gif", "random bytes")] == [
        "jpeg",
        "png",
        "webp",
        "gif",
        "",
    ]
    bomb = results["png bomb"]
    assert (bomb.width, bomb.height) == (50_000, 50_000)


def test_dali_bisects_to_the_blob_it_cannot_decode(monkeypatch):
    from engine.decode import dali as decode_dali

    decoder = make_decoder("dali", "cpu", threads=2)
    # A blob only DALI refuses: the strict JPEG check, which would send this one to PIL first, passes it.
    monkeypatch.setattr(decode_dali, "jpeg_data_error", lambda blob: "")
    runs, handed_to_pil = [], []
    real_run, real_pil = decode_dali.DaliDecoder._run, decode_dali.decode_with_pil
    monkeypatch.setattr(
        decode_dali.DaliDecoder, "_run", lambda self, blobs: runs.append(len(blobs)) or real_run(self, blobs)
    )
    monkeypatch.setattr(
        decode_dali, "decode_with_pil", lambda *args: handed_to_pil.append(args) or real_pil(*args)
    )
    blobs = [JPEG] * 5 + [BAD["jpeg corrupt huffman table"][0]] + [JPEG] * 10
    results = decoder.decode(blobs)
    assert [r.ok for r in results] == [True] * 5 + [False] + [True] * 10
    assert results[5].error.startswith("undecodable JPEG: ")
    assert runs[0] == 16 and len(runs) <= 1 + 2 * 4  # a failed run, then two halves per level
    assert len(handed_to_pil) == 1  # only the blob DALI refused, for its reason
    decoder.close()


def test_max_pixels_rejects_from_the_header():
    decoder = make_decoder("pil", "cpu", limits=ImageLimits(max_pixels=100_000))
    (result,) = decoder.decode([JPEG])
    assert result.error == "decompression bomb: 512x512 = 2.6e5 pixels > max_pixels 1.0e5"
    decoder.close()


def test_auto_is_dali_when_installed():
    decoder = make_decoder("auto", "cpu")
    assert decoder.name == "dali-cpu"
    decoder.close()


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of auto, dali, pil; got 'nvjpeg'"):
        make_decoder("nvjpeg")
