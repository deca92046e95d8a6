"""Live replication: a Structured Streaming query from the source's stream into the target.

``readStream`` uses the ``dynamodb-streams`` source (one partition per shard range); each
micro-batch goes through ``foreachBatch``, where every partition keeps the last change per key and
applies it with the same writer, retries and throttling rules as the snapshot. Offsets are
checkpointed by Spark: a rerun resumes after the last committed batch, and a batch replayed after a
crash applies the same changes again, with the same result.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..changes import BatchCounts, batch_line, last_changes
from ..clients import ClientSpec
from ..deadletter import DeadLetterWriter
from ..errors import MigratorError, remote_error
from ..metrics import Metrics
from ..throttle import RateLimiter
from .ui import spark_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyTask:
    """What an executor needs to apply changes; plain picklable values."""

    target: Any  # DynamoDBTargetSpec or MongoTargetSpec
    renames: dict[str, str]
    dead_letter_dir: str | None
    write_rate: float | None = None


def apply_partition(task: ApplyTask, rows: Iterator[Any]) -> Iterator[dict]:
    """Apply one partition (one shard's range) of a micro-batch; runs on an executor."""
    changes, counts = last_changes(rows, task.renames)
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
    yield counts.as_dict()


@dataclass
class StreamingResult:
    batches: int = 0
    totals: BatchCounts = field(default_factory=BatchCounts)
    last_lag: float | None = None
    stopped_by: str = ""

    def lines(self, table: str) -> list[str]:
        t = self.totals
        return [
            f"replicate {table}: stopped ({self.stopped_by})",
            f"  batches        : {self.batches:,}",
            f"  changes        : {t.INSERT:,} INSERT, {t.MODIFY:,} MODIFY, {t.REMOVE:,} REMOVE",
            f"  applied        : {t.puts:,} puts, {t.deletes:,} deletes (last change per key per batch)",
            f"  dead-lettered  : {t.dead_lettered:,} items",
        ] + ([f"  last lag       : {self.last_lag:.1f} s"] if self.last_lag is not None else [])


class BatchApplier:
    """The ``foreachBatch`` function: applies a micro-batch and prints its counts and lag."""

    def __init__(self, task: ApplyTask, label: str, table: str, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.time):
        self.task = task
        self.label, self.table = label, table
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.result = StreamingResult()
        self.busy = threading.Event()
        #: time.monotonic() when the last batch ended, and when Spark last reported a trigger that
        #: found no new data (``onQueryIdle``): idle only counts once such a trigger followed a batch.
        self.batch_ended = 0.0
        self.idle_seen = -1.0

    def __call__(self, batch_df: Any, batch_id: int) -> None:
        self.busy.set()
        started = time.monotonic()
        try:
            sc = batch_df.sparkSession.sparkContext
            with spark_job(sc, f"replicate-{self.task.target.name}", f"{self.label}: batch {batch_id}",
                           f"{self.label} batch {batch_id}"):
                parts = batch_df.rdd.mapPartitions(functools.partial(apply_partition, self.task)).collect()
            counts = BatchCounts()
            for part in parts:
                counts.add(BatchCounts.from_dict(part))
            lag = self.clock() - counts.newest if counts.newest is not None else None
            self.result.batches += 1
            self.result.totals.add(counts)
            self.result.last_lag = lag if counts.fine_times else None
            log.info("%s", batch_line(batch_id, counts, lag))
            self.metrics.record(
                "replicate", "batch", self.table, batch=batch_id, inserts=counts.INSERT, modifies=counts.MODIFY,
                removes=counts.REMOVE, puts=counts.puts, deletes=counts.deletes, throttles=counts.throttles,
                unprocessed=counts.unprocessed, dead_lettered=counts.dead_lettered,
                duration_seconds=time.monotonic() - started, lag_seconds=self.result.last_lag)
        finally:
            self.batch_ended = time.monotonic()
            self.busy.clear()

    def caught_up(self) -> bool:
        """Whether a trigger after the last batch found nothing new (so no batch is being planned)."""
        return self.idle_seen > self.batch_ended


def _listener(label: str, applier: BatchApplier) -> Any:
    from pyspark.sql.streaming import StreamingQueryListener

    class ProgressListener(StreamingQueryListener):
        """Logs each micro-batch's input and processing rates (Spark's own figures), and notes the
        triggers that found no new data."""

        def onQueryStarted(self, event: Any) -> None:
            log.info("%s: streaming query %s started", label, event.id)

        def onQueryProgress(self, event: Any) -> None:
            p = event.progress
            if p.numInputRows:
                log.info("%s: batch %d took %d ms; input %.0f rows/s, processed %.0f rows/s", label, p.batchId,
                         p.batchDuration, p.inputRowsPerSecond, p.processedRowsPerSecond)

        def onQueryIdle(self, event: Any) -> None:
            applier.idle_seen = time.monotonic()

        def onQueryTerminated(self, event: Any) -> None:
            if event.exception:
                log.error("%s: streaming query failed: %s", label, event.exception.splitlines()[0])

    return ProgressListener()


def run_streaming(spark: Any, source_spec: ClientSpec, stream_arn: str, task: ApplyTask, source_table: str,
                  checkpoint: str, trigger_seconds: float, max_records: int, stop_when_idle: float | None,
                  stop: threading.Event, clock: Callable[[], float] = time.monotonic,
                  metrics: Metrics | None = None) -> StreamingResult:
    """Replicate until ``stop`` is set, the query fails, or it has been idle ``stop_when_idle`` s.

    A stop lets the batch in flight finish first, so the checkpoint and the target agree.
    """
    from ..sources.dynamodb import with_client_spec

    label = f"replicate {source_table}"
    spark.dataSource.register(with_client_spec(source_spec))
    applier = BatchApplier(task, label, source_table, metrics)
    listener = _listener(label, applier)
    spark.streams.addListener(listener)
    # Spark reports a trigger without new data (onQueryIdle) at most this often; --stop-when-idle
    # waits for one after the last batch, so that a batch still being planned is not cut off.
    spark.conf.set("spark.sql.streaming.noDataProgressEventInterval", f"{max(100, int(trigger_seconds * 1000))}ms")
    stream = (spark.readStream.format("dynamodb-streams").option("streamArn", stream_arn)
              .option("maxRecordsPerTrigger", str(max_records)).load())
    query = (stream.writeStream.queryName(label).option("checkpointLocation", checkpoint)
             .trigger(processingTime=f"{trigger_seconds} seconds").foreachBatch(applier).start())
    log.info("%s: replicating %s into %s (checkpoint %s)%s", label, stream_arn, task.target.name, checkpoint,
             f"; stopping after {stop_when_idle:g} s without changes" if stop_when_idle else "")
    try:
        applier.result.stopped_by = _wait(query, applier, stop, stop_when_idle, clock)
    finally:
        spark.streams.removeListener(listener)
    return applier.result


def _wait(query: Any, applier: BatchApplier, stop: threading.Event, stop_when_idle: float | None,
          clock: Callable[[], float]) -> str:
    last_activity = clock()
    started = False
    while True:
        if not query.isActive:
            error = query.exception()
            if error is not None:
                raise MigratorError(_query_error(error))
            return "query ended"
        query.awaitTermination(0.5)
        status = query.status
        if applier.busy.is_set() or status.get("isDataAvailable") or not started:
            last_activity = clock()
        started = started or query.lastProgress is not None or applier.result.batches > 0 or applier.idle_seen >= 0
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
            return reason


def _query_error(error: Any) -> str:
    text = str(getattr(error, "desc", None) or error)
    return remote_error(text) or f"the replication query failed: {text.splitlines()[0] if text else error}"
