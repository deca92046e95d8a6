"""Live replication: a Structured Streaming query from the source's stream into the target.

``readStream`` uses the ``dynamodb-streams`` source (a few partitions per batch, each reading many
shards); each micro-batch goes through ``foreachBatch``, where every partition keeps the last change
per key and applies it with the same writer, retries and throttling rules as the snapshot, then
counts every record's lag. Offsets are checkpointed by Spark: a rerun resumes after the last
committed batch, and a batch replayed after a crash applies the same changes again, with the same
result. The source polls every trigger, so batches without changes are normal: they are neither
printed nor recorded as metrics, and one of them after the last change proves replication caught up.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..changes import WIRE_JSON, BatchCounts, batch_line, last_changes, record_lags, stream_order
from ..deadletter import DeadLetterWriter
from ..errors import MigratorError, task_error
from ..metrics import Metrics
from ..throttle import RateLimiter
from .partition_runner import partition_runner, public_runner
from .ui import spark_job

log = logging.getLogger(__name__)

#: How long _wait blocks in the query between looks at the stop signal and the idle clock.
POLL_SECONDS = 1.0
#: Spark's status messages between triggers.
IDLE_MESSAGES = ("Waiting for data to arrive", "Waiting for next trigger")


@dataclass(frozen=True)
class ApplyTask:
    """What an executor needs to apply changes; plain picklable values."""

    target: Any  # DynamoDBTargetSpec or MongoTargetSpec
    renames: dict[str, str]
    dead_letter_dir: str | None
    write_rate: float | None = None
    item_filter: Any = None  # source.filterExpression (an ItemFilter): changes to other items are deletes
    changes: Any = None  # how the source's rows hold keys and images (the backend's ``changes``); None: DynamoDB JSON


def apply_partition(task: ApplyTask, rows: Iterator[Any], order: Callable[[Any], Any] = stream_order) -> Iterator[dict]:
    """Apply one partition (a group of shards of a micro-batch, or keys of the change log); runs on an
    executor. ``order`` ranks a key's changes: the last one is applied."""
    keep = task.item_filter.matches if task.item_filter is not None else None
    changes, counts, created_at = last_changes(rows, task.renames, order, keep, task.changes or WIRE_JSON)
    if changes:
        dead_letter = (DeadLetterWriter(task.dead_letter_dir, f"{task.target.name}-stream")
                       if task.dead_letter_dir else None)
        limiter = RateLimiter(task.write_rate, time.monotonic()) if task.write_rate else None
        writer = task.target.writer(dead_letter=dead_letter, limiter=limiter)
        try:
            for change in changes:
                if change.is_delete:
                    writer.delete(change.keys)
                else:
                    writer.put(change.image)
            writer.flush()
        finally:
            writer.close()
            if dead_letter is not None:
                dead_letter.close()
        counts.puts, counts.deletes = writer.stats.puts, writer.stats.deletes
        counts.dead_lettered = writer.stats.dead_lettered
        counts.throttles, counts.unprocessed = writer.stats.throttles, writer.stats.unprocessed
    record_lags(counts, created_at, time.time())
    yield counts.as_dict()


@dataclass
class StreamingResult:
    batches: int = 0
    totals: BatchCounts = field(default_factory=BatchCounts)
    last_lag: float | None = None
    stopped_by: str = ""

    def lines(self, table: str) -> list[str]:
        t = self.totals
        lags = t.lags
        out = [
            f"replicate {table}: stopped ({self.stopped_by})",
            f"  batches        : {self.batches:,} with changes",
            f"  changes        : {t.INSERT:,} INSERT, {t.MODIFY:,} MODIFY, {t.REMOVE:,} REMOVE",
            f"  applied        : {t.puts:,} puts, {t.deletes:,} deletes (last change per key per batch)",
            f"  dead-lettered  : {t.dead_lettered:,} items",
        ]
        if t.filtered:
            out.insert(4, f"  filter         : {t.filtered:,} changes left an item outside source.filterExpression "
                          "(deleted from the target)")
        if lags.total:
            out.append(f"  lag            : p50 {lags.quantile(0.5):.1f} s, p99 {lags.quantile(0.99):.1f} s, "
                       f"max {lags.quantile(1.0):.1f} s (creation to written, every record)")
        if self.last_lag is not None:
            out.append(f"  last lag       : {self.last_lag:.1f} s")
        return out


class BatchApplier:
    """The ``foreachBatch`` function: applies a micro-batch and prints its counts and lag.

    ``read_stats(batch_id)`` returns what the source's read tasks did in that batch (shards read,
    shards left behind, GetRecords calls, throttles), or None. ``run(batch_df)`` runs
    :func:`apply_partition` over the batch's partitions and returns their counts.
    """

    def __init__(self, task: ApplyTask, label: str, table: str, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time, read_stats: Callable[[int], Any] = lambda batch_id: None,
                 run: Callable[[Any], list] | None = None, skip_through: int = -1):
        self.task = task
        #: Batches up to this one were applied from the change log already (a capture batch written
        #: and applied, whose commit the checkpoint missed, comes back here after the handover).
        self.skip_through = skip_through
        #: Runs apply_partition over a batch's partitions (partition_runner's, built once per query).
        self.run = run or public_runner(functools.partial(apply_partition, task))
        self.label, self.table = label, table
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.read_stats = read_stats
        self.result = StreamingResult()
        self.busy = threading.Event()
        #: time.monotonic() when the last batch ended, and when Spark's status last showed a trigger
        #: that found no new data (the source had nothing readable).
        self.batch_ended = 0.0
        self.idle_seen = -1.0
        #: A batch that read nothing, with every shard caught up, ended after the last change.
        self.drained = False
        #: The last batch left shards unread (their turn comes in a later batch).
        self.behind = False
        #: The last batch raised (its read or its apply): the query is ending with that error, and
        #: nothing it did proves replication caught up.
        self.failed = False

    def __call__(self, batch_df: Any, batch_id: int) -> None:
        self.busy.set()
        started = time.monotonic()
        self.failed = True  # until the batch is through
        try:
            if batch_id <= self.skip_through:
                log.info("%s: batch %d was applied from the change log already", self.label, batch_id)
                self.failed = False
                return
            sc = batch_df.sparkSession.sparkContext
            with spark_job(sc, f"replicate-{self.task.target.name}", f"{self.label}: batch {batch_id}",
                           f"{self.label} batch {batch_id}"):
                parts = self.run(batch_df)
            counts = BatchCounts.total(parts)
            read = self.read_stats(batch_id)
            self.behind = read is not None and bool(read.behind)
            self.failed = False
            if not counts.records:
                self.drained = read is None or not read.behind
                return
            self.drained = False
            lag = self.clock() - counts.newest if counts.newest is not None else None
            self.result.batches += 1
            self.result.totals.add(counts)
            self.result.last_lag = lag if counts.fine_times else None
            line = batch_line(batch_id, counts, lag)
            if read is not None and (read.behind or read.throttles):
                line += f"  ({read.behind} of {read.shards} shards behind, {read.throttles} reads throttled)"
            log.info("%s", line)
            lags = counts.lags
            self.metrics.record(
                "replicate", "batch", self.table, batch=batch_id, inserts=counts.INSERT, modifies=counts.MODIFY,
                removes=counts.REMOVE, puts=counts.puts, deletes=counts.deletes, filtered=counts.filtered,
                throttles=counts.throttles,
                unprocessed=counts.unprocessed, dead_lettered=counts.dead_lettered,
                duration_seconds=time.monotonic() - started, lag_seconds=self.result.last_lag,
                lag_p50_seconds=lags.quantile(0.5), lag_p99_seconds=lags.quantile(0.99),
                shards_read=read.shards if read else None, shards_behind=read.behind if read else None,
                read_calls=read.calls if read else None, read_throttles=read.throttles if read else None)
        finally:
            self.batch_ended = time.monotonic()
            self.busy.clear()

    def caught_up(self) -> bool:
        """Whether replication has provably caught up: a batch after the last change read nothing
        (the source polls every shard each batch), or a trigger after the last batch found no new data.
        Never after a batch that failed."""
        return not self.failed and (self.drained or self.idle_seen > self.batch_ended)


def run_streaming(spark: Any, source: Any, source_spec: Any, stream_arn: str, task: ApplyTask, source_table: str,
                  checkpoint: str, trigger_seconds: float, max_records: int, stop_when_idle: float | None,
                  stop: threading.Event, clock: Callable[[], float] = time.monotonic,
                  metrics: Metrics | None = None, read_partitions: int = 2,
                  pinned_at: float | None = None, skip_through: int = -1) -> StreamingResult:
    """Replicate until ``stop`` is set, the query fails, or it has been idle ``stop_when_idle`` s.

    A stop lets the batch in flight finish first, so the checkpoint and the target agree.
    ``read_partitions``: tasks per batch (about one per core), each reading many shards.
    ``pinned_at``: when the stream was pinned; the first batch proves that no change since is gone.
    ``skip_through``: the last batch of the checkpoint that the change log applied. ``source`` is the
    source's backend (a :class:`~migrator.sources.base.StreamSource`), ``source_spec`` its spec.
    """
    label = f"replicate {source_table}"
    applier = BatchApplier(task, label, source_table, metrics,
                           read_stats=source.read_stats(checkpoint),
                           run=partition_runner(spark.sparkContext, functools.partial(apply_partition, task)),
                           skip_through=skip_through)
    stream = source.open_stream(spark, source_spec, stream_arn, checkpoint, trigger_seconds, max_records,
                                read_partitions, pinned_at)
    query = (stream.writeStream.queryName(label).option("checkpointLocation", checkpoint)
             .trigger(processingTime=f"{trigger_seconds} seconds").foreachBatch(applier).start())
    log.info("%s: replicating %s into %s (streaming query %s, checkpoint %s)%s", label, stream_arn,
             task.target.name, query.id, checkpoint,
             f"; stopping after {stop_when_idle:g} s without changes" if stop_when_idle else "")
    applier.result.stopped_by = _wait(query, applier, stop, stop_when_idle, clock)
    return applier.result


def _wait(query: Any, applier: BatchApplier, stop: threading.Event, stop_when_idle: float | None,
          clock: Callable[[], float]) -> str:
    last_activity = clock()
    seen = applier.result.batches
    started = False
    while True:
        # One py4j call a poll (0.1 to 0.2 ms of the driver's Python each), and no
        # StreamingQueryListener or lastProgress: each hands Python the whole progress JSON (every
        # shard's offset, three times) on every trigger, the largest CPU cost of the driver's
        # Python at hundreds of shards. The status is a few fields.
        try:
            ended = query.awaitTermination(POLL_SECONDS)
        except Exception:  # noqa: BLE001 - it failed: query.exception() says how
            ended = True
        if ended:
            raise_if_failed(query)
            return "query ended"
        if stop_when_idle is not None:
            status = query.status
            # Spark's words for a trigger that found no new data ("Waiting for data to arrive", soon replaced by
            # "Waiting for next trigger", which also follows a batch: the idle time since the last batch with
            # changes tells them apart). Before the first trigger it says "Initializing sources".
            if (status.get("message") in IDLE_MESSAGES and not status.get("isDataAvailable")
                    and not status.get("isTriggerActive") and not applier.behind):
                applier.idle_seen = time.monotonic()
        if applier.result.batches != seen or not started:
            seen = applier.result.batches
            last_activity = clock()
        started = started or applier.batch_ended > 0 or applier.idle_seen >= 0
        reason = None
        if stop.is_set():
            reason = "signal"
        elif stop_when_idle is not None and clock() - last_activity >= stop_when_idle and applier.caught_up():
            reason = f"idle for {stop_when_idle:g} s"
        if reason:
            # Let the batch in flight finish: its offsets are logged, so stopping mid-batch would
            # only replay it, but a clean stop leaves the checkpoint and the target in step.
            deadline = clock() + 300
            while applier.busy.is_set() and clock() < deadline:
                time.sleep(0.1)
            query.stop()
            raise_if_failed(query)  # it failed while we decided to stop: the failure is the outcome
            return reason


def raise_if_failed(query: Any, what: str = "the replication query") -> None:
    error = query.exception()
    if error is not None:
        raise MigratorError(_query_error(error, what))


def _query_error(error: Any, what: str = "the replication query") -> str:
    text = str(getattr(error, "desc", None) or error)
    return task_error(text) or f"{what} failed: {text.splitlines()[0] if text else error}"
