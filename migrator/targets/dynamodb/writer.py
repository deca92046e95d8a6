"""Writing to a DynamoDB-compatible table: BatchWriteItem, several batches in flight, no item lost.

Puts and deletes are by primary key, so writing the same item twice leaves the same table: a retried
Spark task or a replayed stream batch is harmless.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from ...clients import ClientSpec, error_code, error_kind, shared_client
from ...convert import item_from_wire, item_key, write_units
from ...deadletter import DeadLetterWriter
from ...errors import TargetError
from ...sources.base import Segment
from ...sources.dynamodb.backend import DynamoDBSourceSpec
from ...throttle import Backoff, RateLimiter, RetriesExhausted, RetryStats, call_with_retries
from ...wire_json import takes_wire_form
from ..pipeline import BatchingWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DynamoDBTargetSpec:
    """How executors reach and write the target table; picklable."""

    client_spec: ClientSpec
    table: str
    key_names: list[str]
    batch_size: int = 25
    concurrency: int = 4
    request_capacity: bool = False
    #: The validator may fetch items by key (see TargetSpec).
    fetches_by_key = True

    @property
    def name(self) -> str:
        return self.table

    def describe(self) -> str:
        return f"{self.table} ({self.client_spec.describe()})"

    def writer(self, dead_letter: DeadLetterWriter | None, dedupe: bool = False,
               limiter: RateLimiter | None = None, snapshot: bool = False, partition: int = 0) -> "DynamoDBWriter":
        return DynamoDBWriter(shared_client(self.client_spec, "dynamodb"), self.table, self.key_names,
                              batch_size=self.batch_size, concurrency=self.concurrency, limiter=limiter,
                              request_capacity=self.request_capacity and limiter is not None,
                              dead_letter=dead_letter, dedupe=dedupe)

    def stored(self, item: dict) -> dict:
        return item  # a DynamoDB-compatible table holds DynamoDB JSON as it is

    def read(self, partition: list[Segment]) -> Iterator[dict]:
        return DynamoDBSourceSpec(self.client_spec, self.table).read(partition)

    def fetch(self, keys: list[dict]) -> list[dict]:
        return DynamoDBSourceSpec(self.client_spec, self.table).fetch(keys)


class DynamoDBWriter(BatchingWriter):
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
        See :class:`~migrator.targets.pipeline.BatchingWriter` (DynamoDB rejects a batch with two
        requests for one key).
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
        super().__init__(table, key_names, batch_size, concurrency, dedupe)
        self.client = client
        self.table = table
        self.limiter = limiter
        self.request_capacity = request_capacity
        self.dead_letter = dead_letter
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.sleep = sleep
        self.max_transient = max_transient
        # Items come in wire form (binary as base64 text) or botocore's (bytes); botocore's client takes bytes only.
        self._as_sent: Callable[[Mapping[str, Any]], Mapping[str, Any]] = (
            (lambda item: item) if takes_wire_form(client) else item_from_wire)

    def _put_request(self, item: Mapping[str, Any]) -> tuple[Any, int]:
        return {"PutRequest": {"Item": self._as_sent(item)}}, 0

    def _delete_request(self, key: Mapping[str, Any]) -> tuple[Any, int]:
        return {"DeleteRequest": {"Key": self._as_sent(key)}}, 0

    # -- sending -------------------------------------------------------------------------------

    def _wait_for_capacity(self) -> None:
        if self.limiter is None:
            return
        with self._lock:
            wait = self.limiter.delay(self.clock())
        if wait > 0:
            self.sleep(wait)

    def _charge(self, response: Mapping[str, Any], sent: list[dict[str, Any]], returned: list[dict[str, Any]]) -> None:
        consumed = sum(c.get("CapacityUnits", 0.0) for c in response.get("ConsumedCapacity") or [])
        if not consumed and self.limiter is not None:
            consumed = sum(write_units(_payload(r)) for r in sent) - sum(write_units(_payload(r)) for r in returned)
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
            # The requests DynamoDB did not process come back (in wire form: not comparable with what was
            # sent, whose binary values may be bytes); the rest were written.
            unprocessed = (response.get("UnprocessedItems") or {}).get(self.table, [])
            self._charge(response, pending, unprocessed)
            puts = sum("PutRequest" in r for r in pending) - sum("PutRequest" in r for r in unprocessed)
            self._count(batches=1, puts=puts, deletes=len(pending) - len(unprocessed) - puts,
                        unprocessed=len(unprocessed))
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
