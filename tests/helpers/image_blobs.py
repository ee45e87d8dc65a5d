"""Image blobs in every format and mode a pool holds (GOOD, with the pixels they decode to) and every kind of
bad input (BAD, with the reason a decoder must give), made from skimage's photographs."""

from __future__ import annotations

import io
import itertools
import struct
import zlib

import numpy as np
import skimage.data
from PIL import Image, ImageOps

# Measured 0 between DALI 2.4's CPU decoder and Pillow 13 (both libjpeg-turbo and libwebp); 1 allows
# another build of either library.
LOSSY_MAX_ABS_DIFF = 1

ASTRONAUT = skimage.data.astronaut()  # 512 x 512 RGB
COFFEE = skimage.data.coffee()  # 400 x 600 RGB
CAMERA = skimage.data.camera()  # 512 x 512 gray


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG from raw scanlines, for what PIL cannot write (16-bit RGB, a header claiming any size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_rgb16(pixels: np.ndarray) -> bytes:
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in pixels)
    return png(pixels.shape[1], pixels.shape[0], 16, 2, rows)


def on_white(rgba: np.ndarray) -> np.ndarray:
    color, alpha = rgba[..., :3].astype(np.int64), rgba[..., 3:].astype(np.int64)
    return ((color * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def pil_decoded(blob: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def with_alpha(rgb: np.ndarray) -> np.ndarray:
    """A left-to-right alpha ramp from 0 to 255, so compositing shows everywhere."""
    ramp = np.linspace(0, 255, rgb.shape[1]).round().astype(np.uint8)
    return np.dstack([rgb, np.broadcast_to(ramp, rgb.shape[:2])])


def rotated_jpeg() -> bytes:
    image = Image.fromarray(COFFEE)
    exif = image.getexif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees clockwise to display
    return encode(image, "JPEG", quality=90, exif=exif.tobytes())


def corrupt_huffman_table(jpeg: bytes) -> bytes:
    # Garbled entropy-coded data still decodes (libjpeg-turbo only warns, in every decoder), so the
    # corruption hits the Huffman table, which every decoder rejects.
    start = jpeg.find(b"\xff\xc4") + 5
    return jpeg[:start] + b"\xff" * 20 + jpeg[start + 20 :]


JPEG = encode(Image.fromarray(ASTRONAUT), "JPEG", quality=90)
GRAY_JPEG = encode(Image.fromarray(CAMERA), "JPEG")
ROTATED_JPEG = rotated_jpeg()
COFFEE_PNG = encode(Image.fromarray(COFFEE), "PNG")
CMYK_JPEG = encode(Image.fromarray(COFFEE).convert("CMYK"), "JPEG", quality=90)
PALETTE_PNG = encode(Image.fromarray(COFFEE).convert("P", palette=Image.Palette.ADAPTIVE), "PNG")
LOSSY_WEBP = encode(Image.fromarray(COFFEE), "WEBP", quality=80)
GRAY16 = (CAMERA.astype(np.uint16) * 257 + np.arange(512, dtype=np.uint16)[None, :] % 257).astype(np.uint16)
RGB16 = COFFEE.astype(np.uint16) * 257 + np.random.default_rng(0).integers(
    0, 257, COFFEE.shape, dtype=np.uint16
)

# name -> (blob, the RGB pixels it must decode to, the largest difference allowed)
GOOD = {
    "jpeg rgb": (JPEG, pil_decoded(JPEG), LOSSY_MAX_ABS_DIFF),
    "jpeg gray": (GRAY_JPEG, pil_decoded(GRAY_JPEG), LOSSY_MAX_ABS_DIFF),
    "jpeg cmyk": (CMYK_JPEG, pil_decoded(CMYK_JPEG), LOSSY_MAX_ABS_DIFF),
    "jpeg exif-rotated": (
        ROTATED_JPEG,
        np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(ROTATED_JPEG)))),
        LOSSY_MAX_ABS_DIFF,
    ),
    "png rgb": (COFFEE_PNG, COFFEE, 0),
    "png gray": (encode(Image.fromarray(CAMERA), "PNG"), gray3(CAMERA), 0),
    "png palette": (PALETTE_PNG, pil_decoded(PALETTE_PNG), 0),
    "png rgba": (encode(Image.fromarray(with_alpha(COFFEE)), "PNG"), on_white(with_alpha(COFFEE)), 0),
    "png 16-bit gray": (encode(Image.fromarray(GRAY16), "PNG"), gray3((GRAY16 >> 8).astype(np.uint8)), 0),
    "png 16-bit rgb": (png_rgb16(RGB16), (RGB16 >> 8).astype(np.uint8), 0),
    "webp lossless": (encode(Image.fromarray(ASTRONAUT), "WEBP", lossless=True), ASTRONAUT, 0),
    "webp lossy": (LOSSY_WEBP, pil_decoded(LOSSY_WEBP), LOSSY_MAX_ABS_DIFF),
    "webp rgba": (
        encode(Image.fromarray(with_alpha(ASTRONAUT)), "WEBP", lossless=True),
        on_white(with_alpha(ASTRONAUT)),
        0,
    ),
}

# name -> (blob, its error: exact, or a prefix ending in ": " when the rest is the library's message)
BAD = {
    "jpeg corrupt huffman table": (corrupt_huffman_table(JPEG), "undecodable JPEG: "),
    "jpeg truncated": (JPEG[: len(JPEG) // 2], "truncated JPEG (no end-of-image marker)"),
    "jpeg header only": (JPEG[:400], "truncated JPEG ("),
    "png truncated": (COFFEE_PNG[: len(COFFEE_PNG) // 2], "truncated PNG (no IEND chunk)"),
    "png bomb": (
        png(50_000, 50_000, 8, 2, b"\x00" * 16),
        "decompression bomb: 50000x50000 = 2.5e9 pixels > max_pixels 1.8e8",
    ),
    "random bytes": (np.random.default_rng(1).bytes(4096), "not an image (unrecognised header)"),
    "html page": (b"<!DOCTYPE html><html><body>404</body></html>", "not an image (HTML or XML text)"),
    "empty": (b"", "empty file"),
    "gif": (encode(Image.fromarray(COFFEE), "GIF"), "unsupported format GIF"),
}

# Bad blobs between good ones, so a decoder that stops at the first failure loses good images.
NAMES = [name for pair in itertools.zip_longest(GOOD, BAD) for name in pair if name]
BLOBS = [(GOOD.get(name) or BAD[name])[0] for name in NAMES]
