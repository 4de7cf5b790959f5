"""A tiny HTTP server on 127.0.0.1 answering in the providers' documented response formats."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


class FakeServer:
    """``routes`` maps a method+path prefix (``"GET /api/jobs/hardware"``) to a handler returning (status, body)."""

    def __init__(self, routes: dict[str, Route]) -> None:
        self.routes = routes
        self.requests: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {"method": method, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                for key, fn in outer.routes.items():
                    m, _, prefix = key.partition(" ")
                    if m == method and self.path.startswith(prefix):
                        status, payload = fn(method, self.path, dict(self.headers), body)
                        data = json.dumps(payload).encode()
                        self.send_response(status)
                        self.send_header(
                            "Content-Type",
                            "application/x-amz-json-1.1" if "X-Amz-Target" in self.headers else "application/json",
                        )
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                        return
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
