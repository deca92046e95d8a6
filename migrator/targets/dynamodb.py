"""Writing to a DynamoDB-compatible table: BatchWriteItem, several batches in flight, no item lost.

Puts and deletes are by primary key, so writing the same item twice leaves the same table: a retried
Spark task or a replayed stream batch is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping

from ..clients import error_code, error_kind
from ..convert import item_key, key_tuple, write_units
from ..deadletter import DeadLetterWriter
from ..errors import TargetError
from ..throttle import Backoff, RateLimiter, RetriesExhausted, RetryStats, call_with_retries

log = logging.getLogger(__name__)


@dataclass
class WriteStats:
    """Counters of one writer; summed across tasks by the job."""

    puts: int = 0
    deletes: int = 0
    batches: int = 0
    throttles: int = 0
    unprocessed: int = 0
    transient_errors: int = 0
    dead_lettered: int = 0
    consumed: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class DynamoDBWriter:
    """Buffers puts and deletes into BatchWriteItem requests and sends them concurrently.

    Parameters
    ----------
    client
        A boto3 DynamoDB client built with botocore retries off (``retries=1``), so that throttles
        reach this writer, which retries them without limit and counts them.
    key_names : list of str
        The target's primary key attribute names (hash first).
    batch_size : int
        Requests per BatchWriteItem (25 for DynamoDB, up to 100 for Alternator).
    concurrency : int
        Batches in flight at once.
    limiter : RateLimiter, optional
        This task's share of the write cap, charged in write capacity units.
    dead_letter : DeadLetterWriter, optional
        Where items the target refuses go; without one, such an item fails the task.
    dedupe : bool
        Never put two requests for one key in the same batch (DynamoDB rejects that); needed for
        change streams, not for a scan, which yields each key once.

    Notes
    -----
    :meth:`mark` records a token (a Scan position) after the writes submitted so far;
    :meth:`committed` returns the newest token whose writes have all been acknowledged, which is
    what a savepoint may safely record.
    """

    def __init__(
        self,
        client: Any,
        table: str,
        key_names: list[str],
        batch_size: int = 25,
        concurrency: int = 4,
        limiter: RateLimiter | None = None,
        request_capacity: bool = True,
        dead_letter: DeadLetterWriter | None = None,
        dedupe: bool = False,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_transient: int = 10,
    ):
        self.client = client
        self.table = table
        self.key_names = list(key_names)
        self.batch_size = batch_size
        self.limiter = limiter
        self.request_capacity = request_capacity
        self.dead_letter = dead_letter
        self.dedupe = dedupe
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.sleep = sleep
        self.max_transient = max_transient
        self.stats = WriteStats()
        self._buffer: list[dict[str, Any]] = []
        self._buffer_keys: set[tuple] = set()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"write-{table}")
        # Room for about two Scan pages of batches, so that the scan does not wait for writes.
        self._slots = threading.Semaphore(max(concurrency * 2, 40))
        self._lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, Future] = {}
        self._marks: deque[tuple[int, Any]] = deque()
        self._committed: Any = None
        self._error: BaseException | None = None

    # -- public API -------------------------------------------------------------------------

    def put(self, item: Mapping[str, Any]) -> None:
        """Queue a put of ``item`` (raw DynamoDB JSON)."""
        self._add({"PutRequest": {"Item": item}}, item)

    def delete(self, key: Mapping[str, Any]) -> None:
        """Queue a delete of the item with primary key ``key``."""
        self._add({"DeleteRequest": {"Key": key}}, key)

    def mark(self, token: Any) -> None:
        """Record ``token`` as reached once every write queued so far is acknowledged."""
        self._raise_if_failed()
        with self._lock:
            required = self._next_id if self._buffer else self._next_id - 1
            self._marks.append((required, token))
            self._advance_marks()

    def committed(self) -> Any:
        """The newest marked token whose writes are all acknowledged (None before any)."""
        with self._lock:
            self._advance_marks()
            return self._committed

    def flush(self) -> None:
        """Send what is buffered and wait for every batch; raise the first write failure."""
        if self._buffer:
            self._submit()
        while True:
            with self._lock:
                futures = list(self._pending.values())
            if not futures:
                break
            for future in futures:
                future.exception()
        self._raise_if_failed()
        with self._lock:
            self._advance_marks()

    def close(self) -> None:
        """Stop the sending threads (without flushing: call :meth:`flush` first to keep writes)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "DynamoDBWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- buffering and marks -----------------------------------------------------------------

    def _add(self, request: dict[str, Any], keyed: Mapping[str, Any]) -> None:
        self._raise_if_failed()
        if self.dedupe:
            key = key_tuple(item_key(keyed, self.key_names))
            if key in self._buffer_keys:
                self._submit()
            self._buffer_keys.add(key)
        self._buffer.append(request)
        if len(self._buffer) >= self.batch_size:
            self._submit()

    def _submit(self) -> None:
        batch, self._buffer = self._buffer, []
        self._buffer_keys = set()
        self._slots.acquire()
        with self._lock:
            batch_id = self._next_id
            self._next_id += 1
            future = self._pool.submit(self._send, batch)
            self._pending[batch_id] = future
        future.add_done_callback(lambda f, i=batch_id: self._done(i, f))

    def _done(self, batch_id: int, future: Future) -> None:
        with self._lock:
            self._pending.pop(batch_id, None)
            exc = future.exception()
            if exc is not None and self._error is None:
                self._error = exc
            self._advance_marks()
        self._slots.release()

    def _advance_marks(self) -> None:
        watermark = min(self._pending, default=self._next_id)
        while self._marks and self._marks[0][0] < watermark and self._error is None:
            self._committed = self._marks.popleft()[1]

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    # -- sending -------------------------------------------------------------------------------

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)

    def _wait_for_capacity(self) -> None:
        if self.limiter is None:
            return
        with self._lock:
            wait = self.limiter.delay(self.clock())
        if wait > 0:
            self.sleep(wait)

    def _charge(self, response: Mapping[str, Any], written: list[dict[str, Any]]) -> None:
        consumed = sum(c.get("CapacityUnits", 0.0) for c in response.get("ConsumedCapacity") or [])
        if not consumed and self.limiter is not None:
            consumed = sum(write_units(_payload(r)) for r in written)
        self._count(consumed=consumed)
        if self.limiter is not None:
            with self._lock:
                self.limiter.charge(consumed, self.clock())

    def _send(self, batch: list[dict[str, Any]]) -> None:
        pending = batch
        rounds = 0
        params: dict[str, Any] = {}
        if self.request_capacity:
            params["ReturnConsumedCapacity"] = "TOTAL"
        while pending:
            self._wait_for_capacity()
            retry_stats = RetryStats()
            request = {self.table: pending}
            try:
                response = call_with_retries(
                    lambda: self.client.batch_write_item(RequestItems=request, **params),
                    error_kind, self.backoff, self.sleep, self.max_transient, retry_stats,
                )
            except RetriesExhausted as exc:
                raise TargetError(
                    f"writes to {self.table!r} keep failing after {exc.attempts} attempts: {exc.last}",
                    self.table,
                ) from exc
            except Exception as exc:
                if error_kind(exc) != "fatal":
                    raise
                self._isolate(pending, exc)
                return
            finally:
                self._count(throttles=retry_stats.throttles, transient_errors=retry_stats.transient_errors)
            unprocessed = (response.get("UnprocessedItems") or {}).get(self.table, [])
            done = [r for r in pending if r not in unprocessed] if unprocessed else pending
            self._charge(response, done)
            self._count(
                batches=1,
                puts=sum("PutRequest" in r for r in done),
                deletes=sum("DeleteRequest" in r for r in done),
                unprocessed=len(unprocessed),
            )
            if unprocessed:
                # DynamoDB accepted part of the batch: back off, then resend the rest (never drop it).
                self.sleep(self.backoff.delay(rounds))
                rounds += 1
            pending = unprocessed

    def _isolate(self, batch: list[dict[str, Any]], exc: BaseException) -> None:
        """A batch was refused as a whole: send its requests one by one to find the culprits."""
        if len(batch) > 1:
            log.warning("batch of %d refused by %s (%s); retrying its items one by one",
                        len(batch), self.table, error_code(exc) or exc)
            for request in batch:
                self._send([request])
            return
        (request,) = batch
        payload = _payload(request)
        key = item_key(payload, [k for k in self.key_names if k in payload])
        reason = str(exc)
        if self.dead_letter is None:
            raise TargetError(
                f"target {self.table!r} refused the item with key {_show_key(key)}: {reason}. "
                "Fix the item or set deadLetter.path (or savepoints.path) to set refused items aside "
                "and go on.",
                self.table,
                key,
            ) from exc
        self.dead_letter.write(self.table, key, reason, payload if "PutRequest" in request else None)
        self._count(dead_lettered=1)
        log.warning("dead-lettered the item with key %s refused by %s: %s", _show_key(key), self.table, reason)


def _payload(request: Mapping[str, Any]) -> Mapping[str, Any]:
    if "PutRequest" in request:
        return request["PutRequest"]["Item"]
    return request["DeleteRequest"]["Key"]


def _show_key(key: Mapping[str, Any]) -> str:
    parts = []
    for name, value in key.items():
        ((tag, inner),) = value.items()
        text = repr(inner)
        parts.append(f"{name}={text if len(text) <= 60 else text[:57] + '...'} ({tag})")
    return "{" + ", ".join(parts) + "}"
