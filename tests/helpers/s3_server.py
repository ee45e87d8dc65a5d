"""An S3-compatible server on 127.0.0.1 for the tests: moto's standalone server (real HTTP, conditional
writes, multipart uploads), with s3fs as the client. The environment it sets (AWS_ENDPOINT_URL and test
credentials) points s3fs in this process and in every process started from it at the server."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from unittest import mock

ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "pixsift",
    "AWS_SECRET_ACCESS_KEY": "pixsift",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """Run the server while the block runs; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with mock.patch.dict(os.environ, {**ENVIRONMENT, "AWS_ENDPOINT_URL": endpoint}):
            yield endpoint
    finally:
        server.stop()


def new_bucket() -> str:
    """A new empty bucket on the server; its s3:// URL."""
    import fsspec

    name = f"pixsift-{uuid.uuid4().hex[:12]}"
    fsspec.filesystem("s3", skip_instance_cache=True).mkdir(name)
    return f"s3://{name}"
