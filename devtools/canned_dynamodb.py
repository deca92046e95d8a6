"""A canned DynamoDB endpoint: Scan pages and BatchWriteItem answers built once, served as fast as a socket goes.

For benchmarks that measure what a copy costs the client (``bench/per_core.py``): the server must do no work per
item, so that the client is the bottleneck. It speaks HTTP/1.1 with keep-alive (one asyncio process, no threads) and
dispatches on ``X-Amz-Target``:

- ``DynamoDB_20120810.Scan``: every segment of every table has ``pages`` pages of ``page_items`` items. The pages'
  JSON is built at start; a Scan answers page ``n`` (the page after the one its ``ExclusiveStartKey`` names: the key
  is the page's last item, whose ``pk`` carries the page number), with ``Count``/``ScannedCount``, a
  ``LastEvaluatedKey`` on every page but the last, and ``ConsumedCapacity`` when asked. Keys repeat across segments
  and tables (one segment is what the benchmark reads).
- ``DynamoDB_20120810.BatchWriteItem``: the body is read, not parsed; the answer is ``{"UnprocessedItems": {}}``
  (with ``ConsumedCapacity`` when asked: a unit per put or delete).
- ``DynamoDB_20120810.DescribeTable``: an ACTIVE table keyed by ``pk`` (S) and ``sk`` (N).

Every answer carries ``Content-Type: application/x-amz-json-1.0`` and a correct ``x-amz-crc32``, as DynamoDB's do
(botocore checks it). Nothing is stored: writes vanish.

    .cache/venv/bin/python -m devtools.canned_dynamodb [--port 0] [--pages 40] [--page-items 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import subprocess
import sys
import time
import zlib
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREFIX = "DynamoDB_20120810."
_TABLE_IN_BATCH = re.compile(rb'"RequestItems"\s*:\s*\{\s*"((?:[^"\\]|\\.)*)"')
_CAPACITY_ASKED = re.compile(rb'"ReturnConsumedCapacity"\s*:\s*"(?:TOTAL|INDEXES)"')


def canned_item(page: int, index: int, rng: random.Random) -> dict[str, Any]:
    """One item in DynamoDB JSON, about 380 bytes of it (compact): every attribute type, keys ``pk`` (S) and ``sk`` (N).

    ``pk`` is ``p<page>-<index>``: a Scan's ``ExclusiveStartKey`` (a page's last item) names its page.
    """
    return {
        "pk": {"S": f"p{page:06d}-{index:05d}"},
        "sk": {"N": str(index)},
        "name": {"S": f"cust {rng.randrange(10 ** 6):06d}"},
        "amount": {"N": f"{rng.randrange(10 ** 6)}.{rng.randrange(100):02d}" if index % 2
                   else str(rng.randrange(10 ** 37, 10 ** 38))},  # 38 digits: DynamoDB's most
        "active": {"BOOL": bool(index % 3)},
        "note": {"NULL": True},
        "address": {"M": {"city": {"S": "Oslo"}, "lines": {"L": [{"S": "1 Main"}, {"N": "2"}]}}},
        "tags": {"SS": ["red", "green", f"t{index % 7}"]},
        "scores": {"NS": ["1", "2.5", str(index % 97)]},
        "blob": {"B": base64.b64encode(rng.randbytes(12)).decode()},
        "chunks": {"BS": [base64.b64encode(rng.randbytes(6)).decode(), base64.b64encode(rng.randbytes(9)).decode()]},
    }


class CannedPages:
    """The Scan pages' JSON, built once: page ``n`` is ``head[n]`` + what the request decides + ``}``."""

    def __init__(self, pages: int, page_items: int, seed: int = 17):
        rng = random.Random(seed)
        self.pages, self.page_items = pages, page_items
        self.heads: list[bytes] = []
        self.head_crcs: list[int] = []
        self.last_keys: list[bytes] = []
        for page in range(pages):
            items = [canned_item(page, i, rng) for i in range(page_items)]
            head = (b'{"Items":' + json.dumps(items, separators=(",", ":")).encode()
                    + f',"Count":{page_items},"ScannedCount":{page_items}'.encode())
            self.heads.append(head)
            self.head_crcs.append(zlib.crc32(head))
            last = items[-1]
            self.last_keys.append(json.dumps({"pk": last["pk"], "sk": last["sk"]}, separators=(",", ":")).encode())
        self.page_bytes = sum(len(h) for h in self.heads) // max(1, pages)

    def answer(self, request: dict[str, Any]) -> tuple[bytes, int]:
        """The body of the answer to a Scan ``request``, and its CRC32 (the head's, continued over the tail)."""
        start = (request.get("ExclusiveStartKey") or {}).get("pk", {}).get("S")
        page = int(start[1:7]) + 1 if start else 0
        if page >= self.pages:  # past the end (a stale key): an empty last page
            body = b'{"Items":[],"Count":0,"ScannedCount":0}'
            return body, zlib.crc32(body)
        tail = b""
        if page + 1 < self.pages:
            tail += b',"LastEvaluatedKey":' + self.last_keys[page]
        if request.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            units = 0.5 * -(-len(self.heads[page]) // 4096)
            capacity = {"TableName": request.get("TableName"), "CapacityUnits": units}
            tail += b',"ConsumedCapacity":' + json.dumps(capacity, separators=(",", ":")).encode()
        tail += b"}"
        return self.heads[page] + tail, zlib.crc32(tail, self.head_crcs[page])


def describe_table(name: str, pages: CannedPages) -> bytes:
    count = pages.pages * pages.page_items
    return json.dumps({"Table": {
        "TableName": name, "TableStatus": "ACTIVE", "ItemCount": count,
        "TableSizeBytes": pages.page_bytes * pages.pages,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
        "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
        "TableArn": f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}",
        "CreationDateTime": 1700000000.0,
    }}).encode()


def batch_write_answer(body: bytes) -> bytes:
    """``{"UnprocessedItems": {}}``, and a unit per request when the body asks for its consumed capacity."""
    if not _CAPACITY_ASKED.search(body):
        return b'{"UnprocessedItems":{}}'
    found = _TABLE_IN_BATCH.search(body)
    table = json.loads(b'"' + found.group(1) + b'"') if found else ""
    units = body.count(b'"PutRequest"') + body.count(b'"DeleteRequest"')
    return json.dumps({"UnprocessedItems": {}, "ConsumedCapacity": [{"TableName": table, "CapacityUnits": units}]},
                      separators=(",", ":")).encode()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests parsed from the buffer as they complete, answered in order."""

    def __init__(self, pages: CannedPages):
        self.pages = pages
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).split(b"\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get(b"content-length", b"0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4:end + 4 + length])
            del self.buffer[:end + 4 + length]
            self.answer(headers.get(b"x-amz-target", b"").decode(), body)
            if headers.get(b"connection", b"").lower() == b"close":
                self.transport.close()
                return

    def answer(self, target: str, body: bytes) -> None:
        status, crc = b"200 OK", None
        operation = target[len(PREFIX):] if target.startswith(PREFIX) else target
        if operation == "Scan":
            out, crc = self.pages.answer(json.loads(body))
        elif operation == "BatchWriteItem":
            out = batch_write_answer(body)
        elif operation == "DescribeTable":
            out = describe_table(json.loads(body).get("TableName", ""), self.pages)
        else:
            status = b"400 Bad Request"
            out = json.dumps({"__type": "com.amazon.coral.service#UnknownOperationException",
                              "message": f"the canned endpoint does not answer {target or 'this'}"}).encode()
        if crc is None:
            crc = zlib.crc32(out)
        self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/x-amz-json-1.0\r\n"
                             b"Content-Length: " + str(len(out)).encode() + b"\r\nx-amz-crc32: " + str(crc).encode()
                             + b"\r\nx-amzn-RequestId: canned\r\n\r\n" + out)


def serve(port: int, pages: int = 40, page_items: int = 1000, host: str = "127.0.0.1") -> None:
    """Build the pages, listen on ``port`` (0: a free one, printed) and serve until killed."""
    canned = CannedPages(pages, page_items)

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: _Connection(canned), host, port)
        print(f"canned DynamoDB on http://{host}:{server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()

    asyncio.run(run())


class CannedDynamoDB:
    """The canned endpoint in a child process; a context manager, or :meth:`start` and :meth:`stop`."""

    def __init__(self, pages: int = 40, page_items: int = 1000, port: int | None = None):
        from .servers import free_port

        self.pages, self.page_items = pages, page_items
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self, timeout: float = 60.0) -> "CannedDynamoDB":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.canned_dynamodb", "--port", str(self.port), "--pages", str(self.pages),
             "--page-items", str(self.page_items)], cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until a DescribeTable answers (the pages are built before the port opens)."""
        import http.client

        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"the canned DynamoDB endpoint exited with {self.process.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("POST", "/", b'{"TableName":"ready"}', {"X-Amz-Target": PREFIX + "DescribeTable"})
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the canned DynamoDB endpoint on port {self.port} "
                                   f"did not answer in {timeout:.0f} s")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User and system CPU the server process has used so far."""
        import psutil

        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        if self.process is None:
            return
        from .servers import stop_process

        stop_process(self.process)
        self.process = None

    def __enter__(self) -> "CannedDynamoDB":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--pages", type=int, default=40, help="Scan pages per segment")
    parser.add_argument("--page-items", type=int, default=1000, help="items per Scan page")
    args = parser.parse_args(argv)
    serve(args.port, args.pages, args.page_items)


if __name__ == "__main__":
    main()
