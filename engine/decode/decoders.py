"""Image decoding: blobs in, 8-bit RGB tensors out, one result per blob.

    decoder = make_decoder("auto", torch.device("cuda"))
    results = decoder.decode(blobs)   # list[DecodeResult], same length and order as blobs
    decoder.device                    # where the images are: the GPU decoders' device, or the CPU

"auto" on a CUDA device is DALI when it is installed (nvJPEG through DALI's `mixed` backend), else nvJPEG
through torchvision; on the CPU it is PIL on a thread pool (DALI's CPU pipeline, `dali`, decodes with the
same libjpeg-turbo but measured slower beside a model on the same cores: bench_peers). PIL's
images stay on the CPU: the caller uploads them a batch at a time (engine.decode.upload). A bad blob
never fails the batch: it gets `image=None` and a specific `error`. Every decoder screens headers first
(engine.decode.probe) and follows the same conversion rules (engine.decode.pil), so a blob gives the
same pixels and the same reason on every path; JPEG pixels differ by the decoder's IDCT only (none
between DALI's CPU path and PIL, which share libjpeg-turbo).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pixsift.engine.decode.probe import DEFAULT_LIMITS, ImageLimits
from pixsift.kernels.optional import available

if TYPE_CHECKING:  # torch and the decoders load when one is made, not when `score` builds its flags
    import torch

    from pixsift.engine.decode.result import Decoder

KINDS = ("auto", "dali", "nvjpeg", "pil")


def make_decoder(
    kind: str = "auto",
    device: torch.device | str = "cpu",
    *,
    limits: ImageLimits = DEFAULT_LIMITS,
    threads: int = 4,
    batch_size: int = 256,
    hw_decoder_load: float = 0.65,
) -> Decoder:
    """A decoder of `kind` for images scored on `device`.

    limits: the pixel count, side and aspect ratio above which a blob is rejected from its header.
    threads: CPU decode threads (DALI's pipeline threads; the PIL thread pool, also the GPU decoders'
    pool for what they hand to PIL).
    batch_size: DALI and nvJPEG, the most blobs per batched run. hw_decoder_load: DALI only, the share
    of JPEG work nvJPEG gives the hardware decoder (A100, H100 and later) on the `mixed` backend.
    """
    if kind not in KINDS:
        raise ValueError(f"make_decoder: kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if not (isinstance(threads, int) and threads > 0):
        raise ValueError(f"make_decoder: threads must be a positive integer, got {threads!r}")
    import torch

    device = torch.device(device)
    if kind == "auto":
        kind = "pil" if device.type != "cuda" else "dali" if available("nvidia.dali") else "nvjpeg"
    if kind == "dali":
        from pixsift.engine.decode.dali import DaliDecoder

        return DaliDecoder(device, limits, threads, batch_size, hw_decoder_load)
    if kind == "nvjpeg":
        from pixsift.engine.decode.nvjpeg import NvjpegDecoder

        return NvjpegDecoder(device, limits, threads, batch_size)
    from pixsift.engine.decode.pil import PilDecoder

    return PilDecoder(limits, threads)
