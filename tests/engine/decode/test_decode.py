"""One batch holding every format, mode and kind of bad input, decoded by DALI's CPU pipeline, by PIL, and
by the nvJPEG decoder's code on the CPU (torchvision's decode_jpeg on a CPU device takes nvJPEG's place)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pixsift.engine.decode.decoders import make_decoder
from pixsift.engine.decode.probe import ImageLimits, probe
from tests.helpers.image_blobs import BAD, BLOBS, GOOD, JPEG, NAMES


@pytest.fixture(scope="module", params=["dali", "nvjpeg", "pil"])
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


@pytest.mark.parametrize("kind", ["dali", "nvjpeg"])
def test_a_batched_decoder_bisects_to_the_blob_it_cannot_decode(kind, monkeypatch):
    from pixsift.engine.decode import batched

    decoder = make_decoder(kind, "cpu", threads=2)
    # A blob only the batch refuses: the strict JPEG check, which would send it to PIL first, passes it.
    monkeypatch.setattr(batched, "jpeg_data_error", lambda blob: "")
    runs, handed_to_pil = [], []
    real_run, real_pil = type(decoder).run, batched.decode_with_pil
    monkeypatch.setattr(
        type(decoder), "run", lambda self, blobs: runs.append(len(blobs)) or real_run(self, blobs)
    )
    monkeypatch.setattr(
        batched, "decode_with_pil", lambda *args: handed_to_pil.append(args) or real_pil(*args)
    )
    blobs = [JPEG] * 5 + [BAD["jpeg corrupt huffman table"][0]] + [JPEG] * 10
    results = decoder.decode(blobs)
    assert [r.ok for r in results] == [True] * 5 + [False] + [True] * 10
    assert results[5].error.startswith("undecodable JPEG: ")
    assert runs[0] == 16 and len(runs) <= 1 + 2 * 4  # a failed run, then two halves per level
    assert len(handed_to_pil) == 1  # only the blob the batch refused, for its reason
    decoder.close()


def test_nvjpeg_fails_a_whole_batch_as_the_gpu_does_and_loses_only_the_bad_blob(monkeypatch):
    # On a GPU, nvJPEG returns nothing for a batch with one bad blob in it; here the same on the CPU.
    from pixsift.engine.decode import batched
    from pixsift.engine.decode.nvjpeg import NvjpegDecoder

    poison = JPEG[:-2] + b"\x00\xff\xd9"  # decodes on its own; the fake device refuses any batch with it
    real_run = NvjpegDecoder.run

    def whole_batch_fails(self, blobs):
        if poison in blobs:
            raise RuntimeError("nvjpeg: decode failed for the batch")
        return real_run(self, blobs)

    monkeypatch.setattr(NvjpegDecoder, "run", whole_batch_fails)
    monkeypatch.setattr(batched, "jpeg_data_error", lambda blob: "")
    decoder = make_decoder("nvjpeg", "cpu", threads=2, batch_size=8)
    results = decoder.decode([JPEG] * 11 + [poison] + [JPEG] * 3)
    assert [r.ok for r in results] == [True] * 15  # PIL decodes the one the batch refused
    assert all(torch.equal(r.image, results[0].image) for r in results[:11])
    decoder.close()


def test_nvjpeg_hands_what_it_does_not_take_to_pil():
    decoder = make_decoder("nvjpeg", "cpu")
    takes = {name: decoder.takes(blob, probe(blob)) for name, (blob, *_) in GOOD.items()}
    assert takes["jpeg rgb"] and not takes["png rgba"] and not takes["webp lossy"]
    decoder.close()


def test_max_pixels_rejects_from_the_header():
    decoder = make_decoder("pil", "cpu", limits=ImageLimits(max_pixels=100_000))
    (result,) = decoder.decode([JPEG])
    assert result.error == "decompression bomb: 512x512 = 2.6e5 pixels > max_pixels 1.0e5"
    decoder.close()


def test_auto_on_the_cpu_is_pil_even_with_dali_installed():
    decoder = make_decoder("auto", "cpu")
    assert decoder.name == "pil"
    decoder.close()


@pytest.mark.parametrize(("installed", "expected"), [(False, "nvjpeg"), (True, "dali")])
def test_auto_on_cuda_is_dali_when_installed_else_nvjpeg(installed, expected, monkeypatch):
    from pixsift.engine.decode import dali, decoders, nvjpeg

    made = {}
    monkeypatch.setattr(decoders, "available", lambda module: installed)
    monkeypatch.setattr(dali, "DaliDecoder", lambda *args: made.setdefault("kind", "dali"))
    monkeypatch.setattr(nvjpeg, "NvjpegDecoder", lambda *args: made.setdefault("kind", "nvjpeg"))
    make_decoder("auto", "cuda")
    assert made == {"kind": expected}


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of auto, dali, nvjpeg, pil; got 'vips'"):
        make_decoder("vips")
