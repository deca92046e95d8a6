"""Parallel Scan: how many segments, and the paged scan of one segment.

A segment is a plain value (:class:`~migrator.sources.base.Segment`) so that Spark can pickle it into a partition; the
client is built by the task that scans it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ...clients import error_kind
from ...convert import item_from_wire, item_size
from ...throttle import Backoff, RateLimiter, RetryStats, call_with_retries
from ...wire_json import takes_wire_form
from ..base import Segment

#: One segment per this many bytes of table when the configuration does not say.
BYTES_PER_SEGMENT = 100 * 1024 * 1024
#: DynamoDB's limit on TotalSegments.
MAX_SEGMENTS = 1_000_000
#: Items a Scan page holds at most when no cap says fewer. DynamoDB still ends a page at 1 MB. Without a Limit,
#: DynamoDB Local spends about eight times the CPU on the same pages (50,000 items in 2 segments: 39 CPU-seconds
#: against 4.6), which made every local copy server-bound; real DynamoDB pages of small items get smaller, at
#: one more request per 1,000 items.
PAGE_ITEMS = 1000


@dataclass
class Page:
    """One Scan page: its items (raw DynamoDB JSON), where the next page starts, what it cost, and how many
    items DynamoDB examined for it (more than it returned under a filter)."""

    items: list[dict[str, Any]]
    last_key: dict[str, Any] | None
    consumed: float
    scanned: int = 0


def plan_segment_count(size_bytes: int, cores: int, configured: int | None = None) -> int:
    """How many Scan segments to use.

    ``configured`` (``source.scanSegments``) wins. Otherwise about one segment per 100 MiB of
    table, and at least one per Spark core so that every core has a segment to scan.
    """
    if configured is not None:
        return configured
    by_size = math.ceil(size_bytes / BYTES_PER_SEGMENT) if size_bytes > 0 else 1
    return max(1, min(MAX_SEGMENTS, max(cores, by_size)))


def page_limit(per_task_rcu: float | None, per_task_wcu: float | None, average_item_bytes: float) -> int | None:
    """Items per Scan page under a cap, so that a page is about a second of the task's share.

    An eventually consistent read costs 0.5 RCU per 4 KiB; a put costs 1 WCU per started KiB.
    Small pages under a cap keep savepoints and progress fine-grained: a page is recorded only
    once all its items are written. None (no cap): :data:`PAGE_ITEMS` items or 1 MB, whichever is less.
    """
    item_bytes = max(average_item_bytes, 100.0)
    limits = []
    if per_task_rcu is not None:
        limits.append(per_task_rcu * 8192 / item_bytes)
    if per_task_wcu is not None:
        limits.append(per_task_wcu / math.ceil(item_bytes / 1024))
    if not limits:
        return None
    return int(min(1000, max(1, min(limits))))


def scan_pages(
    client: Any,
    table: str,
    segment: Segment,
    limit: int | None = None,
    limiter: RateLimiter | None = None,
    backoff: Backoff | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stats: RetryStats | None = None,
    request_capacity: bool = True,
    filter_params: dict[str, Any] | None = None,
) -> Iterator[Page]:
    """Scan one segment page by page, from ``segment.start_key``.

    Throttling is retried without limit, transient errors a bounded number of times; other errors
    propagate (the task fails, Spark retries it from the same start key). Without
    ``request_capacity`` (``removeConsumedCapacity``) the Scan does not ask for its consumed
    capacity, and the limiter is charged what DynamoDB would count: half a unit per started 4 KiB.
    ``filter_params`` (a ``FilterExpression`` and its placeholders) makes DynamoDB return only the
    matching items; ``Limit`` then counts the items examined, as DynamoDB does.
    """
    backoff = backoff or Backoff()
    params: dict[str, Any] = {
        "TableName": table,
        "Segment": segment.segment,
        "TotalSegments": segment.total_segments,
    }
    if request_capacity:
        params["ReturnConsumedCapacity"] = "TOTAL"
    params["Limit"] = limit or PAGE_ITEMS
    if filter_params:
        params.update(filter_params)
    start = item_from_wire(segment.start_key) if segment.start_key else None
    while True:
        if start:
            params["ExclusiveStartKey"] = start
        if limiter is not None:
            wait = limiter.delay(clock())
            if wait > 0:
                sleep(wait)
        response = call_with_retries(lambda: client.scan(**params), error_kind, backoff, sleep, stats=stats)
        consumed = float((response.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))
        if not request_capacity and limiter is not None:
            consumed = 0.5 * -(-sum(item_size(i) for i in response.get("Items", [])) // 4096)
        if limiter is not None:
            limiter.charge(consumed, clock())
        start = response.get("LastEvaluatedKey")
        items = response.get("Items", [])
        yield Page(items, start, consumed, int(response.get("ScannedCount", len(items))))
        if not start:
            return


def scan_segments_concurrently(client: Any, table: str, segments: list[Segment], queue_pages: int = 8,
                               filter_params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every item of several segments, scanned at once by one thread each (Scan is mostly waiting
    on the network, so one task keeps several requests in flight). Order is not kept."""
    import queue
    import threading

    pages: queue.Queue = queue.Queue(maxsize=queue_pages)
    done = object()
    stop = threading.Event()

    def scan(segment: Segment) -> None:
        try:
            for page in scan_pages(client, table, segment, filter_params=filter_params):
                if stop.is_set():
                    return
                pages.put(page.items)
            pages.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            pages.put(exc)

    threads = [threading.Thread(target=scan, args=(seg,), daemon=True) for seg in segments]
    for thread in threads:
        thread.start()
    remaining = len(threads)
    try:
        while remaining:
            entry = pages.get()
            if entry is done:
                remaining -= 1
            elif isinstance(entry, BaseException):
                raise entry
            else:
                yield from entry
    finally:
        stop.set()


#: Scan segments a validation task reads at once: a validation only reads, and reads mostly wait.
SCANS_PER_TASK = 2


def segment_groups(size_bytes: int, cores: int, configured: int | None = None) -> list[list[Segment]]:
    """A whole table's segments for reading it all (the validator), :data:`SCANS_PER_TASK` per partition."""
    total = plan_segment_count(size_bytes, cores, configured) * SCANS_PER_TASK
    return [[Segment(n, total, None) for n in range(first, min(first + SCANS_PER_TASK, total))]
            for first in range(0, total, SCANS_PER_TASK)]


def batch_get(client: Any, table: str, keys: list[dict]) -> list[dict]:
    """Items by key with BatchGetItem (100 keys a call, unprocessed keys sent again)."""
    if not takes_wire_form(client):
        keys = [item_from_wire(key) for key in keys]
    items: list[dict] = []
    for start in range(0, len(keys), 100):
        request = {table: {"Keys": keys[start:start + 100], "ConsistentRead": True}}
        while request:
            answer = client.batch_get_item(RequestItems=request)
            items.extend(answer.get("Responses", {}).get(table, []))
            request = answer.get("UnprocessedKeys") or {}
    return items
