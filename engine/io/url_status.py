"""The URLs img2dataset could not download, as plan entries: nothing is lost between a URL list and a store.

img2dataset writes, beside each shard `<shard>.tar`, a status table `<shard>.parquet` with one row per URL
of the shard: `key`, `url`, `status` ("success", "failed_to_download", "failed_to_resize"),
`error_message`, its caption and the columns it was asked to keep. The samples it downloaded are in the
shard (engine.io.tar_scan); each other row becomes an entry keyed `<shard>/<key>`, as its sample would
have been, with the error `download: <url>: <img2dataset's message>` and the row's columns in `meta`.
"""

from __future__ import annotations

from collections.abc import Iterator

from pixsift.engine.core.candidates import PlanEntry, failure
from pixsift.engine.io.download_layout import SUCCESS
from pixsift.engine.io.records import caption_of, make_entry
from pixsift.engine.io.rows import read_rows


def scan_failed_urls(table: str, shard: str) -> Iterator[PlanEntry]:
    """The entries of the status table's rows that are not in the shard."""
    for found in read_rows(table, columns=("key", "url", "status"), required=("key", "url", "status"),
                           others=True):  # fmt: skip
        record = found.record
        if record.get("status") == SUCCESS:
            continue
        url, where = str(record.get("url") or ""), f"{table} row {found.number}"
        why = record.get("error_message") or record.get("status") or "no status"
        error = found.error or failure("download", f"{url[:300]}: {why}")
        key = f"{shard}/{record.get('key') or f'#{found.number}'}"
        yield make_entry(key, caption_of(record), url, 0, 0, record, where, error)
