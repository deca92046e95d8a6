"""A pretend ScyllaDB Alternator cluster for tests: several nodes in front of one DynamoDB Local.

Each node is an HTTP server on its own loopback address (``127.0.0.1``, ``127.0.0.2``, ...), all on
the same port as Alternator's nodes are, with a datacenter and a rack. A node answers
``GET /localnodes`` as Alternator does (a JSON array of the live nodes' addresses: those of its own
datacenter, or of ``?dc=``, narrowed by ``&rack=``) and forwards every DynamoDB call to DynamoDB Local,
gunzipping a ``Content-Encoding: gzip`` body first. It counts what it receives, so that a test can see
where the requests went: calls per node, gzipped calls, and calls whose ``Host`` header named another
node (a client that rewrote the URL after signing). What it does not do: coordinate anything, or check
signatures (DynamoDB Local does not either).
"""

from __future__ import annotations

import collections
import gzip
import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from devtools.http_forward import QuietHandler, forward


@dataclass(frozen=True)
class Node:
    address: str
    datacenter: str
    rack: str


class AlternatorNodes:
    """Start with :meth:`start` (or as a context manager); point clients at :attr:`seed`.

    Parameters
    ----------
    upstream : str
        The DynamoDB Local endpoint, ``http://127.0.0.1:PORT``.
    layout : list of (datacenter, rack)
        One entry per node; node ``i`` listens on ``127.0.0.{i + 1}``.
    """

    def __init__(self, upstream: str, layout: list[tuple[str, str]]):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.nodes = [Node(f"127.0.0.{i + 1}", dc, rack) for i, (dc, rack) in enumerate(layout)]
        self.down: set[str] = set()  # addresses /localnodes leaves out (the server still answers)
        self.lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()  # DynamoDB calls per node address
        self.gzipped = 0
        self.wrong_host = 0
        self.discoveries: collections.Counter[str] = collections.Counter()  # /localnodes queries per node
        self._servers: list[ThreadingHTTPServer] = []
        self.port = 0

    @property
    def seed(self) -> str:
        return self.url(self.nodes[0].address)

    def url(self, address: str) -> str:
        return f"http://{address}:{self.port}"

    def start(self) -> "AlternatorNodes":
        for _ in range(20):
            self.port = _free_port()
            try:
                for node in self.nodes:
                    self._servers.append(self._serve(node))
                return self
            except OSError:  # the port was free on 127.0.0.1 only: try another
                self.stop()
        raise RuntimeError("no port free on every node address")

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> "AlternatorNodes":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def listed(self, asked: Node, query: dict[str, list[str]]) -> list[str]:
        """What ``/localnodes`` on node ``asked`` answers to ``query``."""
        datacenter = query.get("dc", [asked.datacenter])[0]
        rack = query.get("rack", [None])[0]
        return [n.address for n in self.nodes if n.datacenter == datacenter and rack in (None, n.rack)
                and n.address not in self.down]

    def _serve(self, node: Node) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer((node.address, self.port), self._handler(node))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def _handler(self, node: Node) -> type[BaseHTTPRequestHandler]:
        cluster = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                if parts.path != "/localnodes":
                    self._reply(404, b"{}", [])
                    return
                with cluster.lock:
                    cluster.discoveries[node.address] += 1
                self._reply(200, json.dumps(cluster.listed(node, parse_qs(parts.query))).encode(), [])

            def do_POST(self) -> None:  # noqa: N802
                body = self.body()
                zipped = self.headers.get("Content-Encoding") == "gzip"
                if zipped:
                    body = gzip.decompress(body)
                with cluster.lock:
                    cluster.calls[node.address] += 1
                    cluster.gzipped += zipped
                    cluster.wrong_host += self.headers.get("Host") != f"{node.address}:{cluster.port}"
                skip = {"content-length", "content-encoding", "host"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                status, upstream_headers, payload = forward(cluster.upstream, "POST", self.path, headers, body)
                self._reply(status, payload, upstream_headers)

            def _reply(self, status: int, payload: bytes, headers: list) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
