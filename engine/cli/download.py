"""`pixsift download`: the command-line side of engine.download."""

from __future__ import annotations

from pixsift.engine.core.pipeline import Stage
from pixsift.engine.download.config import OUTPUT_KIND, DownloadConfig


def run_download(cfg: DownloadConfig) -> int:
    from pixsift.engine.download.job import download

    print(download(cfg).text())
    return 0


STAGE = Stage(
    "download",
    after=(),
    config=DownloadConfig,
    description="Download a URL list (Parquet, CSV, TSV, JSONL: LAION's layout included) with img2dataset "
    "into WebDataset shards that `pixsift score` reads; every URL gets a row there, a failed one with "
    "img2dataset's reason. Run the same command again to resume: finished shards are kept.",
    run=run_download,
    outputs=lambda cfg: [cfg.to],
    settings=lambda cfg: cfg.value_settings(),
    starts_over=True,
    kind=OUTPUT_KIND,
    inputs=lambda cfg: [cfg.inputs],
)
