"""What every target writer shares: buffering into batches, batches in flight, and marks.

A writer takes puts and deletes of DynamoDB items one at a time, groups them into batches (by
count, and by bytes where the target has a request size limit), sends several batches at once
from a small thread pool, and never holds more than a bounded number of batches in memory.

:meth:`BatchingWriter.mark` records a token (a Scan position) after the writes queued so far;
:meth:`BatchingWriter.committed` returns the newest token whose writes have all been acknowledged,
which is what a savepoint may safely record. The first failure of any batch is raised by the
next call, so a task fails (and Spark retries it) instead of losing writes.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Mapping

from ..convert import item_key, key_tuple


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


class BatchingWriter:
    """Base of the target writers. Subclasses turn items into requests and send batches.

    Parameters
    ----------
    name : str
        The table or collection, for thread names and messages.
    key_names : list of str
        The primary key attribute names (hash first), as written to the target.
    batch_size : int
        Requests per batch at most.
    concurrency : int
        Batches in flight at once.
    dedupe : bool
        Never put two requests for one key in the same batch; needed for change streams, not
        for a scan, which yields each key once.
    """

    def __init__(self, name: str, key_names: list[str], batch_size: int, concurrency: int, dedupe: bool = False,
                 batch_bytes: int | None = None):
        self.name = name
        self.key_names = list(key_names)
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.dedupe = dedupe
        self.stats = WriteStats()
        self._buffer: list[Any] = []
        self._buffer_bytes = 0
        self._buffer_keys: set[tuple] = set()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"write-{name}")
        # Room for about two Scan pages of batches, so that the scan does not wait for writes.
        self._slots = threading.Semaphore(max(concurrency * 2, 40))
        self._lock = threading.Lock()
        self._next_id = 0
        self._pending: dict[int, Future] = {}
        self._marks: deque[tuple[int, Any]] = deque()
        self._committed: Any = None
        self._error: BaseException | None = None

    # -- what subclasses provide -------------------------------------------------------------

    def _put_request(self, item: Mapping[str, Any]) -> tuple[Any, int] | None:
        """The request that writes ``item`` and its size in bytes (0 if not counted); None when
        the item was set aside (dead-lettered) instead."""
        raise NotImplementedError

    def _delete_request(self, key: Mapping[str, Any]) -> tuple[Any, int] | None:
        raise NotImplementedError

    def _send(self, batch: list[Any]) -> None:
        """Write one batch completely (retrying as the target needs), or raise."""
        raise NotImplementedError

    # -- public API ----------------------------------------------------------------------------

    def put(self, item: Mapping[str, Any]) -> None:
        """Queue a put of ``item`` (raw DynamoDB JSON)."""
        self._raise_if_failed()
        request = self._put_request(item)
        if request is not None:
            self._add(request, item)

    def delete(self, key: Mapping[str, Any]) -> None:
        """Queue a delete of the item with primary key ``key``."""
        self._raise_if_failed()
        request = self._delete_request(key)
        if request is not None:
            self._add(request, key)

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

    def __enter__(self) -> "BatchingWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- buffering and marks -----------------------------------------------------------------

    def _identity(self, keyed: Mapping[str, Any]) -> Any:
        """What makes two requests be of one key (hashable)."""
        return key_tuple(item_key(keyed, [k for k in self.key_names if k in keyed]))

    def _add(self, request: tuple[Any, int], keyed: Mapping[str, Any]) -> None:
        payload, size = request
        if self.dedupe:
            key = self._identity(keyed)
            if key in self._buffer_keys:
                self._submit()
            self._buffer_keys.add(key)
        if self.batch_bytes is not None and self._buffer and self._buffer_bytes + size > self.batch_bytes:
            self._submit()
        self._buffer.append(payload)
        self._buffer_bytes += size
        if len(self._buffer) >= self.batch_size:
            self._submit()

    def _submit(self) -> None:
        batch, self._buffer = self._buffer, []
        self._buffer_keys = set()
        self._buffer_bytes = 0
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

    def _count(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)
