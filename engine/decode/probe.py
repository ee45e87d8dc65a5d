"""Header pre-screen of an image blob: format, size and mode without decoding a pixel.

Every decoder runs `probe` first. It rejects what can be told from the header (empty, not an image,
a format pixsift does not decode, a broken header, a decompression bomb, a side or an aspect ratio no
photograph has, a visibly truncated file) before a pixel is allocated, so that one bad blob rarely
reaches a batched DALI decode, and it marks the blobs that every decoder hands to PIL (`needs_pil`) so
that the same blob decodes to the same pixels on every path. `jpeg_data_error` checks a JPEG's data
the way libjpeg does (a corrupt or cut-off entropy stream), at 1/8 scale.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import simplejpeg
from PIL import JpegImagePlugin, PngImagePlugin, WebPImagePlugin

# PIL's own decompression-bomb error threshold (2 * Image.MAX_IMAGE_PIXELS at its default).
MAX_PIXELS = 178_956_970
MAX_SIDE = 32_768
MAX_ASPECT = 32.0  # long side / short side: wider than any panorama a pool holds, and safe to resize
EXIF_ORIENTATION = 0x0112

# Opened with the plugin class directly: PIL.Image.open would run PIL's own bomb check, with its own
# threshold and message, before we see the size.
OPENERS = {
    "jpeg": JpegImagePlugin.JpegImageFile,
    "png": PngImagePlugin.PngImageFile,
    "webp": WebPImagePlugin.WebPImageFile,
}
ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")
HEADER_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


@dataclass(frozen=True)
class ImageLimits:
    """Images refused from their header: more pixels, a longer side, or a larger aspect ratio than these."""

    max_pixels: int = MAX_PIXELS
    max_side: int = MAX_SIDE
    max_aspect: float = MAX_ASPECT


@dataclass(frozen=True)
class ImageProbe:
    format: str  # "jpeg", "png", "webp", another recognised format (rejected), or "" if unrecognised
    width: int  # as stored, before any EXIF rotation; 0 when unknown
    height: int
    mode: str  # PIL's mode from the header ("RGB", "L", "CMYK", "P", "RGBA", "I;16", ...)
    error: str  # "" when the blob may be decoded
    needs_pil: bool  # alpha, 16-bit or CMYK: every decoder decodes it with PIL (see engine.decode.pil)
    orientation: int = 1  # the EXIF orientation (1-8) a JPEG is displayed with


DEFAULT_LIMITS = ImageLimits()


def probe(blob: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> ImageProbe:
    if not blob:
        return _rejected("", "empty file")
    fmt = sniff_format(blob)
    if fmt not in OPENERS:
        return _rejected(fmt, f"unsupported format {fmt.upper()}" if fmt else _unrecognised(blob))
    try:
        image = OPENERS[fmt](io.BytesIO(blob))
    except HEADER_ERRORS as exc:
        return _rejected(fmt, failure_reason(fmt, exc, in_header=True))
    (width, height), mode = image.size, image.mode
    error = _size_error(width, height, limits) or _truncation_error(fmt, blob)
    if error:
        return ImageProbe(fmt, width, height, mode, error, False)
    orientation = _orientation(image) if fmt == "jpeg" else 1
    return ImageProbe(fmt, width, height, mode, "", _needs_pil(fmt, blob, image), orientation)


def jpeg_data_error(blob: bytes) -> str:
    """Why libjpeg would flag this JPEG's data (corrupt, or cut short and patched with an end marker),
    decoding it at 1/8 scale; "" when it is whole."""
    try:
        simplejpeg.decode_jpeg(blob, colorspace="GRAY", min_height=1, min_width=1, strict=True)
    except ValueError as exc:
        return failure_reason("jpeg", exc, in_header=False)
    return ""


def sniff_format(blob: bytes) -> str:
    head = blob[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM":
        return "bmp"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "jpeg2000"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"):
        return "avif"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1"):
        return "heif"
    return ""


def failure_reason(fmt: str, exc: BaseException, in_header: bool) -> str:
    """The reason stored for a blob whose header (or, past the header, whose pixels) failed to decode."""
    text = str(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated {fmt.upper()} ({text})"
    return f"corrupt {fmt.upper()} header: {text}" if in_header else f"undecodable {fmt.upper()}: {text}"


def format_pixels(n: int) -> str:
    mantissa, exponent = f"{n:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _rejected(fmt: str, error: str) -> ImageProbe:
    return ImageProbe(fmt, 0, 0, "", error, False)


def _unrecognised(blob: bytes) -> str:
    if blob.lstrip()[:1] == b"<":
        return "not an image (HTML or XML text)"
    return "not an image (unrecognised header)"


def _size_error(width: int, height: int, limits: ImageLimits) -> str:
    if width <= 0 or height <= 0:
        return f"empty image ({width}x{height} pixels)"
    if width * height > limits.max_pixels:
        return (
            f"decompression bomb: {width}x{height} = {format_pixels(width * height)} pixels "
            f"> max_pixels {format_pixels(limits.max_pixels)}"
        )
    if max(width, height) > limits.max_side:
        return f"side too long: {width}x{height} pixels, a side > max_side {limits.max_side}"
    if max(width, height) > limits.max_aspect * min(width, height):
        return f"aspect ratio too large: {width}x{height} pixels, more than max_aspect {limits.max_aspect:g}"
    return ""


def _orientation(image) -> int:
    try:
        value = image.getexif().get(EXIF_ORIENTATION, 1)
    except HEADER_ERRORS:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _truncation_error(fmt: str, blob: bytes) -> str:
    # Lenient on purpose: files with data after their end marker are common and valid. A truncated
    # file that slips through (say a JPEG cut after its EXIF thumbnail's end marker) fails in the
    # decoder and is isolated there.
    if fmt == "jpeg" and blob.rfind(b"\xff\xd9") < 0:
        return "truncated JPEG (no end-of-image marker)"
    if fmt == "png" and blob.rfind(b"IEND") < 0:
        return "truncated PNG (no IEND chunk)"
    if fmt == "webp":
        declared = int.from_bytes(blob[4:8], "little") + 8
        if declared > len(blob):
            return f"truncated WebP (header declares {declared} bytes, file has {len(blob)})"
    return ""


def has_alpha(image) -> bool:
    return image.mode in ALPHA_MODES or "transparency" in image.info


def _needs_pil(fmt: str, blob: bytes, image) -> bool:
    png_bit_depth = blob[24] if fmt == "png" else 8
    return has_alpha(image) or png_bit_depth == 16 or image.mode == "CMYK"
