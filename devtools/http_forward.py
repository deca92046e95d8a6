"""What the test proxies share (fault proxy, Alternator nodes, export API): a quiet handler, a request passed on."""

from __future__ import annotations

import http.client
import uuid
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any


def forward(address: tuple[str, int], method: str, path: str, headers: dict[str, str],
            body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send the request to ``address`` on a fresh connection; ``(status, headers, body)`` of its answer."""
    conn = http.client.HTTPConnection(*address, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler for the test proxies: HTTP/1.1 keep-alive, no access log, the body read whole."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def reply(self, status: int, payload: bytes) -> None:
        """A DynamoDB JSON answer, with the ``x-amz-crc32`` botocore checks."""
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amz-crc32", str(zlib.crc32(payload) & 0xFFFFFFFF))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(payload)
