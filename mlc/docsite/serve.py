"""`mlc docs serve`: the site on http://127.0.0.1:PORT, rebuilt whenever a source file changes.

The site is written to its folder exactly as `mlc docs --out` writes it (whole, by one rename),
and served from there; a rebuild that fails keeps the last good site and reports why. The
server answers `/__mlc_live` with the current build's id and marks the HTML it serves
(`data-live="1"`), so an open page (static/live.js) reloads itself after a rebuild; the files
on disk are not marked, so the same site copied elsewhere does not poll.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from mlc.targets import Artifact

LIVE = "/__mlc_live"


def build_id(files: list[Artifact]) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.path.encode() + b"\0" + f.text.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


class _Handler(SimpleHTTPRequestHandler):
    server: "DocsServer"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if path == LIVE:
            self._send(self.server.build_id.encode(), "text/plain; charset=utf-8")
            return
        if path.endswith("/") or path.endswith(".html"):
            local = Path(self.translate_path(path))
            local = local / "index.html" if local.is_dir() else local
            if local.is_file():
                page = local.read_bytes().replace(b"<html lang=\"en\">", b"<html lang=\"en\" data-live=\"1\">", 1)
                self._send(page, "text/html; charset=utf-8")
                return
        super().do_GET()

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass  # a request log would bury the rebuild reports


class DocsServer(ThreadingHTTPServer):
    """Serves folder `root` on 127.0.0.1 (`port` 0: a free one; `url` says which)."""

    daemon_threads = True

    def __init__(self, root: Path, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), partial(_Handler, directory=str(root)))
        self.build_id = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


def serve(out: Path, port: int, rebuild: Callable[[], list[Artifact] | None], write: Callable[[list[Artifact]], None],
          changed: Callable[[], bool], ready: Callable[[str], None], interval: float = 0.5,
          stop: threading.Event | None = None) -> None:
    """Builds (`rebuild`: the files, or None when the program has errors), writes (`write`), then
    serves `out` on `port` until interrupted (or `stop` is set), rebuilding whenever `changed()`
    says so; `ready(url)` is called once the server listens."""
    files = rebuild()
    if files is not None:
        write(files)
    else:
        out.mkdir(parents=True, exist_ok=True)  # nothing to show yet: the first good rebuild fills it
    server = DocsServer(out, port)
    server.build_id = build_id(files) if files else ""
    thread = threading.Thread(target=server.serve_forever, name="mlc-docs-serve", daemon=True)
    thread.start()
    ready(server.url)
    stop = stop or threading.Event()
    try:
        while not stop.wait(interval):
            if changed():
                files = rebuild()
                if files is not None:
                    write(files)
                    server.build_id = build_id(files)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
