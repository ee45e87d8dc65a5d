"""An HTTP server on 127.0.0.1 for download tests: real photographs, a 404, a slow answer, a page that is
not an image, a redirect."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator, Mapping

SLOW_SECONDS = 5.0


class _Handler(http.server.BaseHTTPRequestHandler):
    files: Mapping[str, tuple[str, bytes]] = {}  # path -> (content type, body)

    def do_GET(self) -> None:  # noqa: N802 -- the name http.server calls
        if self.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "/" + self.path.removeprefix("/redirect/"))
            self.end_headers()
            return
        if self.path.startswith("/slow/"):
            time.sleep(SLOW_SECONDS)
        found = self.files.get(self.path.removeprefix("/slow"))
        if found is None:
            self.send_error(404, "Not Found")
            return
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(files: Mapping[str, tuple[str, bytes]]) -> Iterator[str]:
    """The server's base URL (http://127.0.0.1:<port>) while it serves `files` {"/a.jpg": (type, bytes)}."""
    handler = type("Handler", (_Handler,), {"files": dict(files)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
