"""Live progress from running tasks to the driver, and the driver's progress line.

Spark reports accumulators only when a task ends, but a savepoint must record how far each
*running* segment got. So the driver listens on a TCP port (on ``spark.driver.host``, which
executors can already reach) and each task sends JSON lines: where it starts, then its newest fully
written key with its counts. A per-run random token keeps stray connections out. If a task cannot
reach the driver it logs a warning and copies anyway; only the mid-run savepoints are lost.
"""

from __future__ import annotations

import json
import logging
import secrets
import socket
import socketserver
import threading
from dataclasses import dataclass
from typing import Any, Callable

from .savepoints import SegmentState, SnapshotSavepoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProgressAddress:
    """Where tasks report; a plain picklable value."""

    host: str
    port: int
    token: str


class _Handler(socketserver.StreamRequestHandler):
    server: "_TCPServer"

    def handle(self) -> None:
        for raw in self.rfile:
            try:
                message = json.loads(raw)
            except ValueError:
                return
            if message.get("token") != self.server.owner.token:
                return
            reply = self.server.owner.receive(message)
            if reply is not None:
                self.wfile.write((json.dumps(reply) + "\n").encode("utf-8"))
                self.wfile.flush()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "ReportServer"


class ReportServer:
    """Driver side: a TCP listener that hands every authenticated JSON line to :meth:`receive`.

    Parameters
    ----------
    bind_host, advertise_host : str
        Where to listen, and the address tasks are told to use.
    """

    def __init__(self, bind_host: str = "127.0.0.1", advertise_host: str | None = None):
        self.token = secrets.token_hex(16)
        self.lock = threading.Lock()
        self._server = _TCPServer((bind_host, 0), _Handler)
        self._server.owner = self
        self.address = ProgressAddress(advertise_host or bind_host, self._server.server_address[1], self.token)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), name="progress-server", daemon=True)

    def start(self) -> "ReportServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def receive(self, message: dict[str, Any]) -> dict[str, Any] | None:
        raise NotImplementedError


class ProgressServer(ReportServer):
    """Receives snapshot task reports and keeps them in the run's :class:`SnapshotSavepoint`.

    ``savepoint`` is updated in place as reports arrive; read it under :attr:`lock`.
    """

    def __init__(self, savepoint: SnapshotSavepoint, bind_host: str = "127.0.0.1",
                 advertise_host: str | None = None):
        super().__init__(bind_host, advertise_host)
        self.savepoint = savepoint
        self.live_items: dict[int, int] = {}
        self.live_examined: dict[int, int] = {}
        self.live_stats: dict[int, dict[str, int]] = {}

    def receive(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Apply one report; answer ``start`` with the newest state known for the segment."""
        number = int(message["seg"])
        with self.lock:
            state = self.savepoint.segment(number)
            if message.get("op") == "start":
                return {"lastKey": state.last_key, "items": state.items, "skipped": state.skipped,
                        "filtered": state.filtered, "done": state.done}
            committed = message.get("committed", True)
            if committed and (message.get("items", 0) >= state.items or message.get("done")):
                state.last_key = message.get("lastKey")
                state.items = int(message.get("items", state.items))
                state.skipped = int(message.get("skipped", state.skipped))
                state.filtered = int(message.get("filtered", state.filtered))
            state.done = state.done or bool(message.get("done"))
            self.live_items[number] = int(message.get("live", state.items))
            if message.get("examined") is not None:
                self.live_examined[number] = int(message["examined"])
            if message.get("stats"):
                self.live_stats[number] = {k: int(v) for k, v in message["stats"].items()}
        return None

    def totals(self) -> tuple[int, int]:
        """Items copied so far (live, including unacknowledged pages) and segments done."""
        with self.lock:
            live = sum(max(self.live_items.get(n, 0), s.items) for n, s in self.savepoint.segments.items())
            return live, len(self.savepoint.done_segments)

    def examined(self) -> int:
        """Items the source examined so far (written, expired and filtered out), for a filtered copy's progress."""
        with self.lock:
            return sum(max(self.live_examined.get(n, 0), s.items + s.skipped + s.filtered)
                       for n, s in self.savepoint.segments.items())

    def stats(self) -> dict[str, int]:
        """Retry and dead-letter counts of this run's tasks, summed (as last reported)."""
        out: dict[str, int] = {}
        with self.lock:
            for counts in self.live_stats.values():
                for name, value in counts.items():
                    out[name] = out.get(name, 0) + value
        return out


class CountServer(ReportServer):
    """Receives item counts from tasks that only count (validation reads): task id → items so far."""

    def __init__(self, bind_host: str = "127.0.0.1", advertise_host: str | None = None):
        super().__init__(bind_host, advertise_host)
        self.counts: dict[int, int] = {}

    def receive(self, message: dict[str, Any]) -> dict[str, Any] | None:
        if message.get("op") == "start":
            return {}
        with self.lock:
            number = int(message["seg"])
            self.counts[number] = max(self.counts.get(number, 0), int(message.get("live", 0)))
        return None

    def total(self) -> int:
        with self.lock:
            return sum(self.counts.values())


class ProgressClient:
    """Task side: reports one segment's progress from a background thread every ``every`` seconds.

    The reporting thread keeps the savepoint current even while the task's main loop waits (for a
    Scan page, or for write capacity under a cap).
    """

    def __init__(self, address: ProgressAddress | None, segment: int, every: float = 0.5):
        self.address = address
        self.segment = segment
        self.every = every
        self._sock: socket.socket | None = None
        self._file = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SegmentState | None:
        """Connect and ask the driver what this segment already did in this run (a retried task)."""
        if self.address is None:
            return None
        try:
            self._sock = socket.create_connection((self.address.host, self.address.port), timeout=10)
            self._file = self._sock.makefile("rwb")
            reply = self._exchange({"op": "start"}, expect_reply=True)
        except OSError as exc:
            log.warning("cannot report progress to the driver at %s:%s (%s); copying without "
                        "mid-run savepoints", self.address.host, self.address.port, exc)
            self.close()
            return None
        if not reply:
            return None
        return SegmentState(done=reply["done"], last_key=reply["lastKey"], items=reply["items"],
                            skipped=reply["skipped"], filtered=reply.get("filtered", 0))

    def follow(self, position: Callable[[], tuple | None], live: Callable[[], int],
               stats: Callable[[], dict[str, int]] | None = None,
               examined: Callable[[], int] | None = None) -> None:
        """Report in the background: ``position()`` gives the newest fully written
        ``(last_key, items, skipped, filtered)`` or None, ``live()`` the items written so far, ``stats()``
        retry counts for the metrics, ``examined()`` (a filtered copy) the items the source examined."""
        if self._file is None:
            return

        def loop() -> None:
            while not self._stop.wait(self.every):
                committed = position()
                extra = stats() if stats is not None else None
                seen = examined() if examined is not None else None
                if committed is None:
                    self.report(None, 0, 0, live(), committed=False, stats=extra, examined=seen)
                else:
                    last_key, items, skipped, filtered = committed
                    self.report(last_key, items, skipped, live(), stats=extra, filtered=filtered, examined=seen)

        self._thread = threading.Thread(target=loop, name=f"progress-segment-{self.segment}", daemon=True)
        self._thread.start()

    def finish(self, items: int, skipped: int, stats: dict[str, int] | None = None, filtered: int = 0) -> None:
        """Stop reporting and tell the driver the segment is done."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.report(None, items, skipped, items, done=True, stats=stats, filtered=filtered)

    def report(self, last_key: dict | None, items: int, skipped: int, live: int, done: bool = False,
               committed: bool = True, stats: dict[str, int] | None = None, filtered: int = 0,
               examined: int | None = None) -> None:
        """Send one report; a lost connection only ends the reporting."""
        with self._lock:
            if self._file is None:
                return
            try:
                self._exchange({"op": "progress", "lastKey": last_key, "items": items, "skipped": skipped,
                                "filtered": filtered, "live": live, "examined": examined, "done": done,
                                "committed": committed, "stats": stats})
            except OSError as exc:
                log.warning("lost the progress connection to the driver (%s); copying on", exc)
                self._close_locked()

    def _exchange(self, message: dict[str, Any], expect_reply: bool = False) -> dict[str, Any] | None:
        assert self._file is not None and self.address is not None
        message.update(token=self.address.token, seg=self.segment)
        self._file.write((json.dumps(message) + "\n").encode("utf-8"))
        self._file.flush()
        if not expect_reply:
            return None
        line = self._file.readline()
        return json.loads(line) if line else None

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        for closable in (self._file, self._sock):
            try:
                if closable is not None:
                    closable.close()
            except OSError:
                pass
        self._file = self._sock = None


class RateMeter:
    """Items per second over a sliding window, and an ETA against an expected total."""

    def __init__(self, now: float, window: float = 30.0):
        self.window = window
        self.samples: list[tuple[float, int]] = [(now, 0)]

    def add(self, now: float, count: int) -> None:
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[1][0] > self.window:
            self.samples.pop(0)

    def rate(self) -> float:
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def eta_seconds(self, expected: int) -> float | None:
        """Seconds left at the current rate; None when unknown."""
        done = self.samples[-1][1]
        rate = self.rate()
        if expected <= 0 or done > expected or (rate <= 0 and done < expected):
            return None  # no estimate, or the table's item count (refreshed ~6-hourly) is stale
        return (expected - done) / rate if done < expected else 0.0

    def eta(self, expected: int) -> str:
        left = self.eta_seconds(expected)
        if left is None:
            return "unknown"
        return clock_time(left)


def clock_time(seconds: float) -> str:
    """``H:MM:SS`` of a duration, for ETAs and elapsed times."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def progress_line(label: str, done: int, expected: int, meter: RateMeter, extra: str = "") -> str:
    """``snapshot T: 12,345 of ~50,000 items (24.7%), 2,345 items/s, ETA 0:00:16; 3/8 segments``."""
    share = f" ({100.0 * done / expected:.1f}%)" if expected else ""
    line = (f"{label}: {done:,} of ~{expected:,} items{share}, {meter.rate():,.0f} items/s, "
            f"ETA {meter.eta(expected)}")
    return f"{line}; {extra}" if extra else line
