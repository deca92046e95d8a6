"""A DynamoDB HTTP proxy that injects throttling and partial batch writes, for tests.

It forwards requests to a real DynamoDB Local and, from a seeded RNG, answers some of them as the
real service does under load: ``ProvisionedThroughputExceededException`` (HTTP 400) for any call,
or a BatchWriteItem that writes only part of its items and returns the rest as
``UnprocessedItems``. Responses it rewrites get a fresh ``x-amz-crc32``, which botocore checks.
"""

from __future__ import annotations

import json
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from devtools.http_forward import QuietHandler, forward

THROTTLE_BODY = {
    "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
    "message": "The level of configured provisioned throughput for the table was exceeded (injected)",
}


class FaultProxy:
    """Start with :meth:`start`; point clients at :attr:`endpoint`; read the counters after.

    Parameters
    ----------
    upstream : str
        The real endpoint, ``http://127.0.0.1:PORT``.
    throttle_rate : float
        Share of calls answered with a throttling error.
    partial_rate : float
        Share of BatchWriteItem calls that write only the first half of their items.
    operations : set of str, optional
        Only these operations (``BatchWriteItem``, ``Scan``) get faults; all others pass through.
    """

    def __init__(self, upstream: str, throttle_rate: float = 0.2, partial_rate: float = 0.3,
                 seed: int = 1, operations: set[str] | None = None):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.throttle_rate = throttle_rate
        self.partial_rate = partial_rate
        self.operations = operations or {"BatchWriteItem", "Scan"}
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.throttled = 0
        self.partial = 0
        self.calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _decide(self, operation: str) -> str:
        with self.lock:
            self.calls += 1
            if operation not in self.operations:
                return "pass"
            roll = self.rng.random()
            if roll < self.throttle_rate:
                self.throttled += 1
                return "throttle"
            if operation == "BatchWriteItem" and roll < self.throttle_rate + self.partial_rate:
                return "partial"
            return "pass"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.body()
                operation = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                decision = proxy._decide(operation)
                if decision == "throttle":
                    self.reply(400, json.dumps(THROTTLE_BODY).encode())
                    return
                if decision == "partial":
                    request = json.loads(body)
                    table, writes = next(iter(request["RequestItems"].items()))
                    if len(writes) > 1:
                        keep, rest = writes[: len(writes) // 2], writes[len(writes) // 2:]
                        request["RequestItems"] = {table: keep}
                        status, _, upstream_body = forward(proxy.upstream, "POST", self.path, headers,
                                                            json.dumps(request).encode())
                        if status == 200:
                            answer = json.loads(upstream_body)
                            answer.setdefault("UnprocessedItems", {}).setdefault(table, []).extend(rest)
                            with proxy.lock:
                                proxy.partial += 1
                            self.reply(200, json.dumps(answer).encode())
                            return
                        self.reply(status, upstream_body)
                        return
                status, _, upstream_body = forward(proxy.upstream, "POST", self.path, headers, body)
                self.reply(status, upstream_body)

        return Handler
