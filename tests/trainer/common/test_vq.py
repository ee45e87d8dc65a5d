"""VQ codes as the original Janus computes them (trainer.common.vq), and the image preparation
(trainer.common.image_prep).

The reference below is the original Janus/LlamaGen `VectorQuantizer.forward` with `codebook_l2_norm=True`,
written out from its algorithm: latent and codebook rows L2-normalized, d = |z|^2 + |e|^2 - 2 z.e, argmin.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import JanusForConditionalGeneration, JanusImageProcessor

from pixsift.trainer.common.image_prep import ImageError, ImageFit, SiglipNorm, prepare, square, vq_input
from pixsift.trainer.common.vq import encode_codes, load_vqmodel
from tests.helpers.candidate_pools import photo, photo_names
from tests.helpers.vq_reference import reference_codes


@pytest.fixture(scope="module")
def janus(tiny_janus):
    return JanusForConditionalGeneration.from_pretrained(tiny_janus).eval()


@pytest.fixture(scope="module")
def photos(janus):
    size = janus.config.vision_config.image_size
    return vq_input(
        torch.from_numpy(np.stack([prepare(photo(name, 96), size, name) for name in photo_names()]))
    )


def test_codes_equal_the_original_quantizer(janus, photos):
    vqmodel = janus.model.vqmodel
    codes = encode_codes(vqmodel, photos)
    assert codes.dtype == torch.long
    assert codes.shape == (len(photos), janus.config.vision_config.num_image_tokens)
    torch.testing.assert_close(codes, reference_codes(vqmodel, photos), rtol=0, atol=0)


def test_the_transformers_quantizer_picks_other_codes_when_row_norms_differ(janus, photos):
    vqmodel = janus.model.vqmodel
    original = encode_codes(vqmodel, photos)
    weight = vqmodel.quantize.embedding.weight
    saved = weight.detach().clone()
    try:
        with torch.no_grad():  # rescaling a row changes no normalized distance, only the unnormalized ones
            weight.mul_(torch.logspace(-1, 1, len(weight))[torch.randperm(len(weight))][:, None])
        ours = encode_codes(vqmodel, photos)
        with torch.no_grad():
            port = vqmodel.encode(photos).image_tokens.view(len(photos), -1)
        torch.testing.assert_close(ours, original, rtol=0, atol=0)
        torch.testing.assert_close(ours, reference_codes(vqmodel, photos), rtol=0, atol=0)
        assert (port != ours).float().mean() > 0.5
    finally:
        with torch.no_grad():
            weight.copy_(saved)


def test_decoding_normalizes_the_codebook_as_the_codes_assume(janus, photos):
    """get_codebook_entry (the decode path) gives the normalized rows, and our code's row is the nearest
    normalized row to the normalized latent at every position."""
    vqmodel = janus.model.vqmodel
    codes = encode_codes(vqmodel, photos)
    with torch.no_grad():
        entries = vqmodel.quantize.get_codebook_entry(codes)  # [B, D, h, w]
        latent = vqmodel.quant_conv(vqmodel.encoder(photos))
    normalized = F.normalize(vqmodel.quantize.embedding.weight, dim=-1)
    b, d = entries.shape[:2]
    flat_entries = entries.permute(0, 2, 3, 1).reshape(b, -1, d)
    torch.testing.assert_close(flat_entries, normalized[codes].detach())
    z = F.normalize(latent.permute(0, 2, 3, 1).reshape(b, -1, d), dim=-1)
    chosen = (z * flat_entries).sum(-1)
    best = (z @ normalized.T).max(-1).values
    torch.testing.assert_close(chosen, best.detach())


def test_a_bf16_encoder_gives_codes_in_range(tiny_janus, photos, janus):
    vqmodel = load_vqmodel(tiny_janus, "cpu", torch.bfloat16)
    codes = encode_codes(vqmodel, photos)
    assert codes.dtype == torch.long and codes.shape == (len(photos), 16)
    assert 0 <= int(codes.min()) and int(codes.max()) < janus.config.vq_config.num_embeddings


def test_load_vqmodel_reads_the_checkpoints_vq_weights(tiny_janus, janus):
    vqmodel = load_vqmodel(tiny_janus, "cpu", torch.float32)
    want = janus.model.vqmodel.state_dict()
    got = vqmodel.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert not vqmodel.training and not any(p.requires_grad for p in vqmodel.parameters())


def test_square_resizes_the_short_side_and_crops_the_center():
    image = Image.fromarray(np.asarray(Image.open(io.BytesIO(photo("chelsea", 96)))))
    wide = image.resize((90, 60))
    got = square(wide, 32)
    expected = np.asarray(wide.resize((48, 32), Image.Resampling.BICUBIC))[:, 8:40]
    np.testing.assert_array_equal(got, expected)
    assert square(wide.transpose(Image.Transpose.TRANSPOSE), 32).shape == (32, 32, 3)


@pytest.mark.parametrize("shape", [(90, 60), (60, 90), (41, 97), (64, 64), (200, 12)])
def test_pad_fits_an_image_as_janus_processor_does(shape):
    """`image_fit = "pad"` against transformers' own JanusImageProcessor (its PIL backend: the same
    bicubic resize), on a photograph in wide, tall, odd, square and extreme shapes."""
    janus_pil = pytest.importorskip("transformers.models.janus.image_processing_pil_janus")
    processor = janus_pil.JanusImageProcessorPil(size={"height": 32, "width": 32})
    image = Image.fromarray(np.asarray(Image.open(io.BytesIO(photo("chelsea", 96))))).resize(shape)
    fit = ImageFit("pad", processor.background_color)
    got = prepare(_png(image), 32, "x", fit)
    expected = processor(image, return_tensors="pt").pixel_values[0]
    norm = SiglipNorm(tuple(processor.image_mean), tuple(processor.image_std))
    torch.testing.assert_close(norm(torch.from_numpy(got)[None])[0], expected, rtol=0, atol=1e-5)
    assert fit(image, 32).shape == (32, 32, 3)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_prepare_names_a_bad_image():
    with pytest.raises(ImageError, match="the image of 'x'.*not an image"):
        prepare(b"<html>oops</html>", 32, "the image of 'x'")
    truncated = photo("astronaut", 64)[:200]
    with pytest.raises(ImageError, match="the image of 'y'"):
        prepare(truncated, 32, "the image of 'y'")


def test_siglip_pixels_use_the_processors_mean_and_std(tiny_janus):
    norm = SiglipNorm.of(str(tiny_janus))
    processor = JanusImageProcessor.from_pretrained(tiny_janus)
    assert norm.mean == tuple(processor.image_mean) and norm.std == tuple(processor.image_std)
    size = processor.size["height"]
    images = np.stack([prepare(photo(name, 96), size, name) for name in photo_names()])
    expected = processor(images=list(images), return_tensors="pt").pixel_values
    torch.testing.assert_close(norm(torch.from_numpy(images)), expected, atol=1e-5, rtol=0)
    pixels = vq_input(torch.from_numpy(images))
    assert pixels.min() >= -1 and pixels.max() <= 1
    torch.testing.assert_close(pixels, torch.from_numpy(images).permute(0, 3, 1, 2) / 255 * 2 - 1)
