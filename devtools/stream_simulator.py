"""A multi-shard DynamoDB Streams simulator (``devtools/streamsim``, Go) on a free port.

DynamoDB Local gives every stream one shard and no limits; the simulator answers like DynamoDB
Streams at scale: several shards per stream, splits, per-shard GetRecords limits, DescribeStream
limits, retention and expiring iterators. It either makes the changes of one table itself
(generator mode: ``table=``) and keeps their ground truth, or follows the streams of a DynamoDB
Local (front mode: ``upstream=``) and re-shards their records. ``devtools/setup.sh`` builds it into
``.cache/streamsim/streamsim``; ``devtools/streamsim/main.go`` documents every flag.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from devtools.servers import CACHE, free_port, stop_process

BINARY = os.path.join(CACHE, "streamsim", "streamsim")


def _duration(seconds: float) -> str:
    """A Go duration for ``seconds`` (microsecond precision)."""
    return f"{round(seconds * 1_000_000)}us"


class StreamSimulator:
    """One simulator process. Use as a context manager, or call :meth:`start` and :meth:`stop`.

    Parameters
    ----------
    shards : int
        Open shards per stream at the start, each owning an equal slice of the key hash space.
    split_every : float, optional
        Seconds between automatic splits of ``split_count`` shards (widest first); None: never.
    latency : float
        Seconds added to every API call.
    get_records_rate, max_readers, describe_rate : int
        GetRecords per shard per second, GetRecords in flight per shard, DescribeStream calls per
        second for the server; 0 means unlimited.
    throttle_rate : float
        Share of GetRecords refused at random (``LimitExceededException``), from ``seed``.
    retention : float, optional
        Seconds records are kept; None: forever.
    iterator_ttl : float, optional
        Seconds a shard iterator lives (the simulator's default is 15 minutes).
    upstream : str, optional
        Front mode: a DynamoDB Local endpoint whose streams the simulator follows.
    table, rate, keys, payload : generator mode
        The simulated table, its changes per second, the number of keys and the payload size.
    page_size : int
        Shards per DescribeStream page at most.
    """

    def __init__(self, *, shards: int = 4, split_every: float | None = None, split_count: int = 1,
                 latency: float = 0.0, get_records_rate: int = 5, max_readers: int = 2, describe_rate: int = 10,
                 throttle_rate: float = 0.0, retention: float | None = None, iterator_ttl: float | None = None,
                 upstream: str | None = None, table: str | None = None, rate: float = 0.0, keys: int = 1000,
                 payload: int = 100, seed: int = 1, page_size: int = 100, port: int | None = None,
                 log_dir: str | None = None):
        if upstream is None and table is None:
            raise ValueError("StreamSimulator needs table= (generator mode) or upstream= (front mode)")
        self.port = port or free_port()
        self.log_dir = log_dir or os.path.join(CACHE, "logs")
        self.table = table
        self.args = ["-port", str(self.port), "-shards", str(shards), "-split-count", str(split_count),
                     "-latency", _duration(latency), "-get-records-rate", str(get_records_rate),
                     "-max-readers", str(max_readers), "-describe-rate", str(describe_rate),
                     "-throttle-rate", repr(float(throttle_rate)), "-seed", str(seed), "-page-size", str(page_size)]
        if split_every is not None:
            self.args += ["-split-every", _duration(split_every)]
        if retention is not None:
            self.args += ["-retention", _duration(retention)]
        if iterator_ttl is not None:
            self.args += ["-iterator-ttl", _duration(iterator_ttl)]
        if upstream is not None:
            self.args += ["-upstream", upstream]
        if table is not None:
            self.args += ["-table", table, "-rate", repr(float(rate)), "-keys", str(keys), "-payload", str(payload)]
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.log_dir, f"streamsim-{self.port}.log")

    def client(self, max_attempts: int | None = None) -> Any:
        """A boto3 ``dynamodbstreams`` client; ``max_attempts=1`` shows every throttling error."""
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "total_max_attempts": max_attempts}) if max_attempts else None
        return boto3.client("dynamodbstreams", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local", config=config)

    def start(self, timeout: float = 10.0) -> "StreamSimulator":
        if not os.access(BINARY, os.X_OK):
            raise RuntimeError(f"the stream simulator is not built at {BINARY}; run devtools/setup.sh (it needs Go)")
        os.makedirs(self.log_dir, exist_ok=True)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([BINARY, *self.args], stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"the stream simulator exited with {code}; see {self.log_path}")
            try:
                self.stats()
                return self
            except (urllib.error.URLError, ConnectionError):  # not listening yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the stream simulator on port {self.port} did not answer in {timeout:.0f} s")
                time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process, timeout=10)
        self.process = None

    def __enter__(self) -> "StreamSimulator":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _control(self, path: str, method: str = "GET", **query: Any) -> Any:
        params = urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        request = urllib.request.Request(f"{self.endpoint}/sim/{path}" + (f"?{params}" if params else ""),
                                         method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"stream simulator /sim/{path}: HTTP {exc.code} {exc.read().decode()}") from exc

    def stats(self) -> dict:
        """Counters: ``calls`` per operation, ``throttled`` per reason (rate, readers, describe,
        injected), ``errors`` per code, ``max_get_records_per_second`` and ``max_in_flight`` (the
        peaks on one shard), ``records`` stored, ``records_total``, ``trimmed``, ``dropped``,
        ``shards`` (open, closed, expired) and ``splits``."""
        return self._control("stats")

    def stream_arn(self) -> str:
        """The one stream: the simulated table's (generator mode), or the one followed so far (front mode)."""
        if self.table is not None:
            return self.client().list_streams(TableName=self.table)["Streams"][0]["StreamArn"]
        return self._control("shards")["StreamArn"]

    def truth(self, arn: str | None = None) -> dict:
        """Generator mode: ``{"records": n, "items": {pk: image or None}}`` for every key changed."""
        return self._control("truth", stream=arn)

    def split(self, arn: str | None = None, count: int = 1) -> list[dict]:
        """Splits ``count`` open shards now; gives ``[{"parent": id, "children": [id, id]}]``."""
        return self._control("split", "POST", stream=arn, count=count)["splits"]

    def set_rate(self, value: float) -> None:
        """Generator mode: changes per second from now on (0 stops; no change follows the answer)."""
        self._control("rate", "POST", value=value)

    def generate(self, count: int) -> None:
        """Generator mode: makes ``count`` records at once (changes that make no record do not count)."""
        self._control("generate", "POST", count=count)

    def shards(self, arn: str | None = None) -> list[dict]:
        """Every shard, expired ones included, in creation order: DescribeStream's fields (``ShardId``,
        ``ParentShardId``, ``SequenceNumberRange``) plus ``State`` (open, closed, expired),
        ``HashRangeLow``/``HashRangeHigh``, ``Records``, ``First``/``Last``/``TrimmedSequenceNumber``
        and ``InFlight``."""
        return self._control("shards", stream=arn)["Shards"]
