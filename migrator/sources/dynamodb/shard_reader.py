"""Executor side of the ``dynamodb-streams`` source: one task reads a group of shards at once.

A task gets a :class:`ShardGroup` (many shards: Spark's cost per task makes a task per shard too
dear at hundreds of shards) and reads its shards concurrently from a small thread pool, each from
its start position on, until the shard is caught up (a short page), closed and read to its end,
out of the batch's record budget, or out of time (``ReadSettings.seconds``). Then it records where
each shard stopped in the positions log (:mod:`.positions`), which is what the next batch starts
from. When the batch is a replay (the task's positions file exists already), it reads exactly up to
the recorded ends instead.

DynamoDB Streams' limits are kept per shard: one reader at a time (a shard belongs to one task of
one batch, and batches run one after another), and calls spaced so that no shard sees more than
``calls_per_second`` GetRecords in any second, across batches too (the positions file carries the
time of each shard's last call). ``LimitExceededException`` is throttling: retried without limit,
with backoff and jitter, and counted.

A shard read from its start proves that nothing it held was trimmed unread (:class:`StartProof`):
a child (begun after the query's first read) must still have its first record: an iterator at its
``StartingSequenceNumber`` is not refused as trimmed. A shard of the first listing may have lost
records from before the stream was pinned, never after: when its start was trimmed, or its parent
expired, the oldest record it still holds must be from before the pin. TRIM_HORIZON alone would
start silently after a gap.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from pyspark.sql.datasource import InputPartition

from ...clients import error_code, error_kind
from ...errors import SourceError, StreamTrimmedError
from ...throttle import Backoff, RetryStats, call_with_retries
from .positions import PartitionRecord, PositionsLog, ReadStats, ShardOutcome
from .shards import NEW_SNAPSHOT

#: Records per GetRecords call (DynamoDB Streams' maximum).
MAX_GET_RECORDS = 1000
#: A page may stop short of ``Limit`` at 1 MB; one whose records add up to less than this did not.
TRUNCATED_PAGE_BYTES = 512 * 1024


@dataclass(frozen=True)
class ShardGroup(InputPartition):
    """The shards one task reads in one batch: plain picklable values.

    ``shards`` pairs each shard id with its start position (the last sequence number consumed,
    ``""`` for the shard's oldest record). ``stops`` is only for batches planned by the earlier
    offset layout: the exact last sequence number to read per shard (and no positions file).
    ``starts``: (shard id, its first sequence number, kind) for shards read from their start whose
    reading must prove that nothing was trimmed unread (:data:`.offsets.START_KINDS`).
    """

    stream_arn: str
    batch: int
    index: int
    shards: tuple[tuple[str, str], ...]
    budget: int | None
    stops: tuple[tuple[str, str], ...] = ()
    starts: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class ReadSettings:
    """How a task reads. ``seconds``: no new GetRecords after this long (a replay ignores it);
    ``patience``: how long a replay waits through empty pages for records known to be there."""

    threads: int = 16
    seconds: float = 1.0
    calls_per_second: float = 5.0
    patience: float = 120.0
    #: GetRecords through the client's wire-JSON path (:mod:`migrator.wire_json`, half the CPU); False: botocore.
    raw: bool = True
    #: When the stream was pinned (epoch seconds): roots and orphans of the first listing must show
    #: that no record since then was trimmed. None: they are read from their oldest remaining record.
    pinned_at: float | None = None


@dataclass(frozen=True)
class Bound:
    """Where a replay must stop: the last sequence number to read, or the shard's end."""

    last: str | None
    done: bool = False


def seq(value: str | None) -> int:
    """A sequence number as an integer (-1 for "nothing yet"): never compare them as strings."""
    return -1 if not value else int(value)


def shard_iterator(client: Any, stream_arn: str, shard_id: str, after: str | None,
                   sleep: Callable[[float], None] = time.sleep, stats: RetryStats | None = None,
                   at: str | None = None) -> str:
    """An iterator just after sequence number ``after``, at sequence number ``at``, or at the shard's
    oldest remaining record; throttled and transient failures are counted in ``stats``."""
    kwargs = {"StreamArn": stream_arn, "ShardId": shard_id}
    if after:
        kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
    elif at:
        kwargs.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=at)
    else:
        kwargs["ShardIteratorType"] = "TRIM_HORIZON"
    try:
        return call_with_retries(lambda: client.get_shard_iterator(**kwargs), error_kind, Backoff(),
                                 sleep, stats=stats)["ShardIterator"]
    except Exception as exc:
        error = _stream_error(exc, stream_arn, shard_id, after)
        if error is None:
            raise
        raise error from exc


def _stream_error(exc: BaseException, stream_arn: str, shard_id: str, after: str | None) -> StreamTrimmedError | None:
    code = error_code(exc)
    if code == "TrimmedDataAccessException":
        return StreamTrimmedError(
            f"shard {shard_id} of {stream_arn} no longer holds the records after sequence number "
            f"{after or '(its start)'}: the stream's 24-hour retention trimmed changes this migration had not "
            f"applied yet, so they are lost; {NEW_SNAPSHOT}")
    if code == "ResourceNotFoundException":
        return StreamTrimmedError(
            f"shard {shard_id} of {stream_arn} is gone before it was read to its end: changes are lost; "
            f"{NEW_SNAPSHOT}")
    return None


def latest_possible(created: Any) -> float | None:
    """The latest moment a record with this ``ApproximateCreationDateTime`` can have been made.

    DynamoDB Streams round creation times down to the second, DynamoDB Local to the minute: a time
    without a fraction may be up to a second late, one on a whole minute up to a minute.
    """
    if isinstance(created, datetime):
        created = created.timestamp()
    if not isinstance(created, (int, float)):
        return None
    if created != int(created):
        return float(created)
    return float(created) + (60.0 if int(created) % 60 == 0 else 1.0)


class StartProof:
    """What reading a shard from its start must show, given how it came to be read and the pin.

    ``check`` says whether the oldest record read must be from before the pin: for a root whose
    start was trimmed (the records trimmed may include some made after the pin) and for every
    orphan (its expired parent held records until this shard began).
    """

    def __init__(self, shard_id: str, first_seq: str, kind: str, pinned_at: float | None):
        self.shard_id, self.first_seq, self.kind, self.pinned_at = shard_id, first_seq, kind, pinned_at
        self.check = False
        self.trimmed = False
        #: GetShardIterator granted an iterator at the shard's listed first sequence number.
        self.at_start = False

    def iterator(self, ctx: "_Context", stats: RetryStats) -> str:
        """An iterator at the shard's start, or the error that says what is lost."""
        if self.kind == "child" or self.pinned_at is not None:
            try:
                iterator = shard_iterator(ctx.client, ctx.stream_arn, self.shard_id, None, ctx.sleep, stats,
                                          at=self.first_seq)
                self.check = self.kind == "orphan"
                self.at_start = True
                return iterator
            except StreamTrimmedError as exc:
                if error_code(exc.__cause__) != "TrimmedDataAccessException":
                    raise
                if self.kind == "child":
                    raise StreamTrimmedError(
                        f"shard {self.shard_id} of {ctx.stream_arn} no longer holds its oldest records: the "
                        "stream's retention trimmed them before this migration read them (the shard began after "
                        f"its first read of the stream), so they are lost; {NEW_SNAPSHOT}") from None
                self.check = self.trimmed = True
            except Exception as exc:
                if error_code(exc) != "ValidationException":
                    raise
                # The stream refuses its own first number (an empty shard, on some implementations):
                # nothing to prove from it; read from the oldest record, as without a pin.
                self.check = self.kind == "orphan" and self.pinned_at is not None
        return shard_iterator(ctx.client, ctx.stream_arn, self.shard_id, None, ctx.sleep, stats)

    def start_is_no_record(self) -> bool:
        """Whether GetRecords just refused, as trimmed, the iterator GetShardIterator granted at the listed start.

        A trimmed start is refused by GetShardIterator itself (AWS, the stream simulator), which
        :meth:`iterator` handles. DynamoDB Local lists a new shard's start at its instance-wide sequence
        counter, which another table's write may take first: the number is then no record of this shard,
        and GetRecords answers TrimmedDataAccessException. Nothing is trimmed (nothing can be, within the
        24 hours :func:`~migrator.jobs.migration.check_retention` enforces), so the shard is read from its
        oldest record as the proof of an untrimmed start allows. Answers True once.
        """
        found, self.at_start = self.at_start, False
        return found

    def unproven(self, ctx: "_Context") -> StreamTrimmedError | None:
        """After a read that reached the shard's end: a trimmed start with no record left proves nothing."""
        if not (self.check and self.trimmed):
            return None
        return StreamTrimmedError(
            f"shard {self.shard_id} of {ctx.stream_arn}: records were trimmed from its start and it holds none "
            f"since, so changes made after the stream was pinned may be lost (the snapshot outlasted the "
            f"stream's retention); {NEW_SNAPSHOT}")

    def verify(self, ctx: "_Context", oldest: dict) -> None:
        """The oldest record this shard still holds must be from no later than the pin."""
        self.check = False
        made = latest_possible(oldest["dynamodb"].get("ApproximateCreationDateTime"))
        if made is not None and self.pinned_at is not None and made <= self.pinned_at:
            return
        pinned = datetime.fromtimestamp(self.pinned_at or 0, timezone.utc).isoformat(timespec="seconds")
        why = ("its parent shard expired from the stream" if self.kind == "orphan"
               else "records were trimmed from its start")
        raise StreamTrimmedError(
            f"shard {self.shard_id} of {ctx.stream_arn}: {why}, and the oldest record it still holds "
            f"({oldest['dynamodb'].get('SequenceNumber')}) is from after the stream was pinned at {pinned}: "
            "changes made in between may be lost (the snapshot outlasted the stream's retention); "
            f"{NEW_SNAPSHOT}")


class Budget:
    """The records a task may still read, shared by its reader threads.

    A call reserves its ``Limit`` and gives back what the page did not use, so concurrent calls
    never exceed the budget together; while many shards are being read each gets a small share, and
    the shards still behind get more once the others are caught up.
    """

    def __init__(self, total: int | None):
        self.left = total
        self.active = 0
        self._lock = threading.Lock()

    def reserve(self) -> int:
        with self._lock:
            if self.left is None:
                return MAX_GET_RECORDS
            if self.left <= 0:
                return 0
            share = max(1, self.left // max(1, self.active))
            limit = min(MAX_GET_RECORDS, share, self.left)
            self.left -= limit
            return limit

    def refund(self, n: int) -> None:
        if n and self.left is not None:
            with self._lock:
                self.left += n


@dataclass
class _Context:
    """What the cursors of one task share."""

    client: Any
    get_records: Callable[..., dict]
    stream_arn: str
    settings: ReadSettings
    budget: Budget
    deadline: float
    emit: Callable[[str, list], None]
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    stop: threading.Event = field(default_factory=threading.Event)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ShardCursor:
    """One shard's reading in one task; it can read on later (a replay that must reach further)."""

    def __init__(self, shard_id: str, position: str, hint: ShardOutcome | None, proof: StartProof | None = None):
        self.shard_id = shard_id
        #: Only for a shard read from its start; the proof is made with its first iterator.
        self.proof = proof if not position else None
        self.last: str | None = position or None
        self.consumed: str | None = None
        self.records = 0
        self.done = False
        self.behind = False
        usable = hint is not None and hint.iterator and hint.iterator_at == position
        self.iterator: str | None = hint.iterator if usable else None
        self.called = hint.called if hint is not None else 0.0
        self.retries = RetryStats()

    def outcome(self) -> ShardOutcome:
        return ShardOutcome(last=self.consumed, done=self.done, behind=self.behind, records=self.records,
                            called=self.called, iterator=self.iterator,
                            iterator_at=(self.last or "") if self.iterator else None)

    def read(self, ctx: _Context, bound: Bound | None) -> None:
        """Read until caught up (``bound`` None) or until ``bound`` is reached."""
        spacing = 1.0 / ctx.settings.calls_per_second
        patience = ctx.clock() + ctx.settings.patience
        self.behind = False
        while not ctx.stop.is_set() and not self.done:
            if bound is not None and self.reached(bound):
                return
            if bound is None and ctx.clock() >= ctx.deadline:
                self.behind = True
                return
            limit = MAX_GET_RECORDS if bound is not None else ctx.budget.reserve()
            if limit == 0:
                self.behind = True
                return
            wait = self.called + spacing - ctx.clock()
            if wait > 0:
                ctx.sleep(wait)  # DynamoDB Streams allows about 5 GetRecords a second per shard
            page = self._get_records(ctx, limit)
            records = page.get("Records", [])
            if bound is None:
                ctx.budget.refund(limit - len(records))
            elif bound.last is not None:
                end = seq(bound.last)
                records = [r for r in records if seq(r["dynamodb"]["SequenceNumber"]) <= end]
            if records and self.proof is not None and self.proof.check:
                self.proof.verify(ctx, records[0])
            if records:
                ctx.emit(self.shard_id, records)
                self.last = self.consumed = records[-1]["dynamodb"]["SequenceNumber"]
                self.records += len(records)
            self.iterator = page.get("NextShardIterator")
            if self.iterator is None:
                self.done = True
            elif bound is not None:
                if not records and ctx.clock() > patience:
                    raise SourceError(f"shard {self.shard_id}: the records up to {bound.last} that this batch "
                                      f"read before were not returned again within {ctx.settings.patience:.0f} s")
            elif _caught_up(page.get("Records", []), limit):
                return
        if bound is not None and not self.reached(bound):
            raise SourceError(f"shard {self.shard_id} ended at {self.last} before {bound.last}, where this batch "
                              "stopped before: the shard changed under us")

    def reached(self, bound: Bound) -> bool:
        """Whether this cursor has read as far as ``bound``."""
        if bound.done:
            return self.done
        return bound.last is None or seq(self.last) >= seq(bound.last)

    def _get_records(self, ctx: _Context, limit: int) -> dict:
        while True:
            if self.iterator is None:
                if self.last is None and self.proof is not None:
                    self.iterator = self.proof.iterator(ctx, self.retries)
                else:
                    self.iterator = shard_iterator(ctx.client, ctx.stream_arn, self.shard_id, self.last, ctx.sleep,
                                                   self.retries)
            self.called = ctx.clock()
            iterator = self.iterator
            try:
                page = call_with_retries(lambda: ctx.get_records(ShardIterator=iterator, Limit=limit),
                                         error_kind, Backoff(), ctx.sleep, stats=self.retries)
            except Exception as exc:
                if error_code(exc) == "ExpiredIteratorException":
                    self.iterator = None  # iterators live 15 minutes: renew from where we are
                    continue
                if (error_code(exc) == "TrimmedDataAccessException" and self.last is None and self.proof is not None
                        and self.proof.start_is_no_record()):
                    self.iterator = shard_iterator(ctx.client, ctx.stream_arn, self.shard_id, None, ctx.sleep,
                                                   self.retries)
                    continue
                raise _stream_error(exc, ctx.stream_arn, self.shard_id, self.last) or exc
            finally:
                with ctx.lock:
                    ctx.calls += 1
            return page


def _caught_up(records: list[dict], limit: int) -> bool:
    """Whether a page shows the shard's end: fewer records than asked for, and not because the page
    reached GetRecords' 1 MB (a page well under it by the records' own ``SizeBytes``). Without sizes,
    only an empty page says so."""
    if not records:
        return True
    if len(records) >= limit:
        return False
    sizes = [r["dynamodb"].get("SizeBytes") for r in records]
    return None not in sizes and sum(sizes) < TRUNCATED_PAGE_BYTES


def read_group(client: Any, log: PositionsLog, group: ShardGroup, settings: ReadSettings,
               clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep
               ) -> Iterator[tuple[str, dict]]:
    """Every record the task of ``group`` reads, as (shard id, record); then its positions file.

    Records of one shard come in order; records of different shards interleave (a key lives in one
    shard at a time, so nothing downstream depends on their relative order).
    """
    started = clock()
    recorded = log.read(group.batch, group.index) if group.batch >= 0 else None
    hints = log.read(group.batch - 1, group.index) if group.batch > 0 and recorded is None else None
    proofs = {sid: StartProof(sid, first, kind, settings.pinned_at) for sid, first, kind in group.starts}
    cursors = [ShardCursor(sid, position, hints.shards.get(sid) if hints else None, proofs.get(sid))
               for sid, position in group.shards]
    # Start where the last batch ended its rotation, so a tight budget cannot starve a shard.
    turn = group.batch % len(cursors) if cursors else 0
    cursors = cursors[turn:] + cursors[:turn]
    pages: queue.Queue = queue.Queue()
    # The client's GetRecords is the wire-JSON one (unless the spec says botocoreCalls); botocoreReads asks for
    # botocore's on this reader alone.
    get_records = client.get_records if settings.raw else getattr(client, "botocore_client", client).get_records
    ctx = _Context(client, get_records, group.stream_arn, settings, Budget(group.budget), started + settings.seconds,
                   lambda sid, records: pages.put(("page", sid, records)), clock, sleep)
    if recorded is not None:
        bounds = {sid: Bound(o.last, o.done) for sid, o in recorded.shards.items()}
        yield from _run(ctx, [(c, bounds.get(c.shard_id, Bound(None))) for c in cursors], pages)
        return
    if group.stops:
        stops = dict(group.stops)
        yield from _run(ctx, [(c, Bound(stops.get(c.shard_id))) for c in cursors], pages)
        return
    yield from _run(ctx, [(c, None) for c in cursors], pages)
    for cursor in cursors:
        if cursor.proof is not None and not cursor.records and not cursor.behind:
            error = cursor.proof.unproven(ctx)
            if error is not None:
                raise error
    record = PartitionRecord(group.stream_arn, group.batch, group.index,
                             {c.shard_id: c.outcome() for c in cursors}, _stats(ctx, cursors, clock() - started))
    existing = log.create(record)
    if existing is not None:
        # Another attempt of this task recorded first: the next batch starts from its ends, so read
        # on to wherever it got further than this attempt did.
        bounds = {sid: Bound(o.last, o.done) for sid, o in existing.shards.items()}
        further = [(c, bounds[c.shard_id]) for c in cursors
                   if c.shard_id in bounds and not c.reached(bounds[c.shard_id])]
        yield from _run(ctx, further, pages)


def _run(ctx: _Context, work: list[tuple[ShardCursor, Bound | None]], pages: queue.Queue) -> Iterator[tuple[str, dict]]:
    if not work:
        return
    ctx.budget.active = min(ctx.settings.threads, len(work))
    remaining = len(work)

    def job(cursor: ShardCursor, bound: Bound | None) -> None:
        try:
            cursor.read(ctx, bound)
            pages.put(("end", cursor.shard_id, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consuming thread, which raises it
            pages.put(("error", cursor.shard_id, exc))

    pool = ThreadPoolExecutor(max_workers=ctx.budget.active, thread_name_prefix="shard-read")
    try:
        for cursor, bound in work:
            pool.submit(job, cursor, bound)
        while remaining:
            kind, sid, value = pages.get()
            if kind == "page":
                for record in value:
                    yield sid, record
            elif kind == "end":
                remaining -= 1
                ctx.budget.active = max(1, min(ctx.settings.threads, remaining))
            else:
                raise value
    finally:
        if remaining:  # an error, or the consumer stopped early: the other readers stop too
            ctx.stop.set()
        pool.shutdown(wait=True)


def _stats(ctx: _Context, cursors: list[ShardCursor], seconds: float) -> ReadStats:
    return ReadStats(shards=len(cursors), records=sum(c.records for c in cursors),
                     behind=sum(1 for c in cursors if c.behind), calls=ctx.calls,
                     throttles=sum(c.retries.throttles for c in cursors),
                     transient_errors=sum(c.retries.transient_errors for c in cursors),
                     seconds=round(seconds, 3))
