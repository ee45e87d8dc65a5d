"""`pixsift caption`: the command-line side of engine.vlm.caption."""

from __future__ import annotations

from pixsift.engine.cli.annotation import annotation_stage
from pixsift.engine.vlm.config import CaptionConfig


def run_caption(cfg: CaptionConfig) -> int:
    from pixsift.engine.vlm.caption import Captioner
    from pixsift.engine.vlm.job import annotate

    annotate(cfg, Captioner(cfg)).report(cfg.store)
    return 0


STAGE = annotation_stage(
    "caption",
    CaptionConfig,
    run_caption,
    lambda cfg: [cfg.column],
    "Write a detailed caption for every scored row (or a selection's) with a local vision-language model "
    "into the run store's column COLUMN (default caption_vlm), flagged when empty, cut at the token limit "
    "or repetitive. Run the same command again to resume a killed job.",
)
