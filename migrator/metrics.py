"""Figures to scrape or graph: a JSON-lines file and a Prometheus text endpoint, both on the driver.

Each job hands :meth:`Metrics.record` a flat record every ``metrics.intervalSeconds`` (snapshot and
validation progress), once per micro-batch (replication) and once at its end (a summary). The record
becomes one JSON line, appended and flushed at once, so a crash loses nothing already written; the
Prometheus endpoint serves the newest value of every field, and running totals for micro-batches.
``METRICS`` names every field; docs/metrics.md describes each one and a test keeps the two in step.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

log = logging.getLogger(__name__)

COUNTER, GAUGE = "counter", "gauge"

#: (job, field) → (Prometheus type, help). Counters are totals since the job started; for a
#: replication batch the JSON line holds the batch's own count and Prometheus the running total.
METRICS: dict[tuple[str, str], tuple[str, str]] = {
    ("snapshot", "items_written"): (COUNTER, "items written to the target by this run"),
    ("snapshot", "items_skipped"): (COUNTER, "items not copied because their TTL had expired (earlier runs included)"),
    ("snapshot", "items_expected"): (GAUGE, "items this run expects to copy (the source's estimate)"),
    ("snapshot", "items_per_second"): (GAUGE, "write rate over the last 30 seconds"),
    ("snapshot", "eta_seconds"): (GAUGE, "estimated seconds left (absent when unknown)"),
    ("snapshot", "segments_done"): (GAUGE, "Scan segments completely copied, earlier runs included"),
    ("snapshot", "segments_total"): (GAUGE, "Scan segments of the table"),
    ("snapshot", "throttles"): (COUNTER, "throttled calls retried (reads and writes)"),
    ("snapshot", "unprocessed"): (COUNTER, "unprocessed items of BatchWriteItem sent again"),
    ("snapshot", "transient_errors"): (COUNTER, "server errors and timeouts retried"),
    ("snapshot", "dead_lettered"): (COUNTER, "items the target refused, kept in the dead-letter location"),
    ("snapshot", "seconds"): (GAUGE, "seconds since the copy started"),
    ("replicate", "batch"): (GAUGE, "id of the micro-batch"),
    ("replicate", "batches"): (COUNTER, "micro-batches applied"),
    ("replicate", "inserts"): (COUNTER, "INSERT records read from the stream"),
    ("replicate", "modifies"): (COUNTER, "MODIFY records read from the stream"),
    ("replicate", "removes"): (COUNTER, "REMOVE records read from the stream"),
    ("replicate", "puts"): (COUNTER, "items written (the last change of each key in a batch)"),
    ("replicate", "deletes"): (COUNTER, "items deleted (the last change of each key in a batch)"),
    ("replicate", "filtered"): (COUNTER, "last changes of a key whose item does not match source.filterExpression "
                                         "(applied as deletes)"),
    ("replicate", "throttles"): (COUNTER, "throttled writes retried"),
    ("replicate", "unprocessed"): (COUNTER, "unprocessed items of BatchWriteItem sent again"),
    ("replicate", "dead_lettered"): (COUNTER, "changes the target refused, kept in the dead-letter location"),
    ("replicate", "duration_seconds"): (GAUGE, "seconds the micro-batch took to apply"),
    ("replicate", "lag_seconds"): (GAUGE, "now minus the newest record's creation time (absent when unknown)"),
    ("replicate", "lag_p50_seconds"): (GAUGE, "median lag of the batch's records, creation to written"),
    ("replicate", "lag_p99_seconds"): (GAUGE, "99th percentile lag of the batch's records, creation to written"),
    ("replicate", "shards_read"): (GAUGE, "stream shards the batch read"),
    ("replicate", "shards_behind"): (GAUGE, "shards left with unread records (batch limit or time)"),
    ("replicate", "read_calls"): (COUNTER, "GetRecords calls"),
    ("replicate", "read_throttles"): (COUNTER, "GetRecords and GetShardIterator calls throttled "
                                                "(LimitExceededException) and retried"),
    ("capture", "batches"): (COUNTER, "stream batches written into the change log by this run"),
    ("capture", "changes"): (COUNTER, "stream records written into the change log by this run"),
    ("capture", "log_bytes"): (GAUGE, "bytes of the change log (earlier runs' batches included)"),
    ("capture", "lag_seconds"): (GAUGE, "now minus the newest captured record's creation time (absent when unknown)"),
    ("apply_log", "changes_applied"): (COUNTER, "change log records applied to the target by this run"),
    ("apply_log", "changes_expected"): (GAUGE, "change log records this run has to apply, as far as known"),
    ("apply_log", "changes_per_second"): (GAUGE, "apply rate over the last 30 seconds"),
    ("apply_log", "eta_seconds"): (GAUGE, "estimated seconds left of the log (absent when unknown)"),
    ("apply_log", "batches_left"): (GAUGE, "captured batches not applied yet"),
    ("validate", "items_read"): (COUNTER, "items read so far, both sides together"),
    ("validate", "items_expected"): (GAUGE, "items both sides hold by their estimates"),
    ("validate", "items_per_second"): (GAUGE, "read rate over the last 30 seconds"),
    ("validate", "eta_seconds"): (GAUGE, "estimated seconds left of the reading (absent when unknown)"),
    ("validate", "keys"): (GAUGE, "keys compared"),
    ("validate", "missing"): (GAUGE, "keys in the source, not in the target"),
    ("validate", "extra"): (GAUGE, "keys in the target only"),
    ("validate", "different"): (GAUGE, "keys whose items differ"),
    ("validate", "fixed"): (GAUGE, "items written by copyMissingRows"),
    ("validate", "seconds"): (GAUGE, "seconds since the validation started"),
}

#: Fields of a replication batch that add up over batches.
BATCH_TOTALS = ("inserts", "modifies", "removes", "puts", "deletes", "filtered", "throttles", "unprocessed", "dead_lettered",
                "read_calls", "read_throttles")


class Metrics:
    """The run's metrics sink. Without a path or a port it does nothing (at no cost).

    Parameters
    ----------
    path : str or None
        JSON-lines file on the driver's disk, appended to (a rerun adds to the same file).
    port : int or None
        Serve Prometheus text format at ``http://<driver>:<port>/metrics``.
    clock : callable
        Seconds since the epoch (injected by tests).
    """

    def __init__(self, path: str | None = None, port: int | None = None, host: str = "0.0.0.0",
                 clock: Callable[[], float] = time.time):
        self.path, self.clock = path, clock
        self.run = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._latest: dict[tuple[str, str, str], float] = {}
        self._file = None
        self._server: ThreadingHTTPServer | None = None
        if path:
            from .storage import is_s3

            if is_s3(path):
                raise OSError(f"metrics.path {path}: must be a local file (S3 objects cannot be appended to)")
            self._file = open(path, "a", encoding="utf-8")
        if port:
            self._server = _serve(self, host, port)
            log.info("metrics: Prometheus text at http://%s:%d/metrics", host, self._server.server_address[1])

    @property
    def enabled(self) -> bool:
        return self._file is not None or self._server is not None

    @property
    def port(self) -> int | None:
        return self._server.server_address[1] if self._server is not None else None

    def record(self, job: str, event: str, table: str, **fields: Any) -> None:
        """Append one record and update the Prometheus values.

        ``event`` is ``progress``, ``batch`` or ``summary``; ``fields`` must be names of ``METRICS``
        for ``job`` (a value of None means unknown and is left out of Prometheus).
        """
        if not self.enabled:
            return
        unknown = [f for f in fields if (job, f) not in METRICS]
        if unknown:
            raise ValueError(f"metrics: no such {job} field(s) {unknown}")
        now = self.clock()
        record = {"time": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds"),
                  "unix": round(now, 3), "run": self.run, "job": job, "event": event, "table": table}
        record.update({k: _plain(v) for k, v in fields.items()})
        with self._lock:
            if self._file is not None:
                self._file.write(json.dumps(record) + "\n")
                self._file.flush()
            for name, value in fields.items():
                if value is None or isinstance(value, bool):
                    continue
                slot = (job, name, table)
                if event == "batch" and name in BATCH_TOTALS:
                    self._latest[slot] = self._latest.get(slot, 0) + value
                else:
                    self._latest[slot] = value
            if event == "batch":
                slot = (job, "batches", table)
                self._latest[slot] = self._latest.get(slot, 0) + 1

    def prometheus(self) -> str:
        """Every known value in Prometheus text exposition format (version 0.0.4)."""
        with self._lock:
            latest = dict(self._latest)
        lines: list[str] = []
        for (job, name), (kind, text) in METRICS.items():
            samples = sorted((table, v) for (j, n, table), v in latest.items() if (j, n) == (job, name))
            if not samples:
                continue
            metric = f"migrator_{job}_{name}" + ("_total" if kind == COUNTER else "")
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
            lines += [f'{metric}{{table="{_label(table)}"}} {_number(v)}' for table, v in samples]
        return "\n".join(lines) + "\n"

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 3)
    return value


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _serve(metrics: Metrics, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404, "only /metrics is served")
                return
            body = metrics.prometheus().encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: no access log
            pass

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise OSError(f"metrics.prometheusPort {port}: cannot listen ({exc.strerror or exc}); choose a free port") from exc
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.5,), name="metrics-http", daemon=True).start()
    return server
