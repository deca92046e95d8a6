"""The change log: the stream captured into Parquet while the snapshot runs, applied once it is done.

Without it, replication reads the stream only after the snapshot, so the snapshot must end within
the stream's retention (24 hours on AWS) of the pin. With it, a capture query reads the stream from
the pin on, a trigger at a time, while the snapshot copies the table; each of its batches lands in
the log as ``<log>/batch=<id>/`` (Parquet; Spark's ``_SUCCESS`` marks it complete).

Why this keeps "no lost change":

- Pin before scan: the stream position is recorded before the first Scan page is read
  (:mod:`.migration`), so every change the snapshot may have missed is in the stream after the pin.
- Capture from the pin: the capture is a streaming query on replication's checkpoint, started with
  the pin's proof (its first batch shows the stream still holds every record since the pin, or
  fails). A batch is in the log before Spark commits it, so a crash replays an uncommitted batch,
  which writes the same records again. Its lag is seconds: retention only has to cover the time the
  capture is down, and the source's trimmed-data checks make a longer downtime fail loudly.
- Apply after the snapshot: batches in capture order, several at a time; per key the change that is
  last by (batch, sequence number) wins. A key's changes are in stream order within a batch, and a
  later batch holds only later changes of it (a child shard is read after its parent is finished),
  so that change is the key's last in the stream, whatever shards split meanwhile.
- Idempotent apply: a put of the whole new image or a delete by key, so a change applied twice, or
  over a snapshot item that already had it, leaves the same item.
- No gap, no double start: while the log is applied the capture goes on; once what is left fits in
  one apply job it stops after its batch in flight, the rest is applied, and replication starts on the same
  checkpoint with the batch after the capture's last. A capture batch written and applied whose
  commit the checkpoint missed comes back to replication, which skips it (the savepoint records the
  last batch applied).

What it costs: every change is written once more (Parquet, compressed) and read once more, the
capture holds one core while the snapshot runs (the snapshot uses the others), and the log takes
about the stream's own size for the duration of the snapshot. It is deleted once applied.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..changes import BatchCounts, log_order
from ..errors import MigratorError
from ..metrics import Metrics
from ..progress import RateMeter, progress_line
from .hadoop_files import HadoopFiles
from .streaming import ApplyTask, apply_partition, raise_if_failed
from .ui import spark_job

log = logging.getLogger(__name__)

#: Changes one task of the log's apply holds at most (the last change per key, in memory).
CHANGES_PER_TASK = 50_000
#: How long the capture's first batch (the pin's proof) may take before the snapshot starts anyway.
FIRST_BATCH_SECONDS = 300.0
#: How long a stop waits for the capture's batch in flight.
STOP_SECONDS = 300.0


class ChangeLog:
    """The log's files: one directory per captured batch, ``<path>/batch=<id>``."""

    def __init__(self, files: HadoopFiles, path: str):
        self.files = files
        self.path = path.rstrip("/")

    def batch_path(self, batch: int) -> str:
        return f"{self.path}/batch={batch}"

    def complete(self) -> list[int]:
        """The batches completely written, in capture order."""
        names = self.files.glob_parents(f"{self.path}/batch=*/_SUCCESS")
        return sorted(int(name.split("=", 1)[1]) for name in names if name.startswith("batch="))

    def read(self, spark: Any, batches: list[int]) -> Any:
        """The records of ``batches``, with their ``batch`` column (from the directory names)."""
        return spark.read.option("basePath", self.path).parquet(*[self.batch_path(b) for b in batches])

    def size(self) -> int:
        return self.files.size(self.path)

    def remove_all(self) -> None:
        self.files.remove(self.path)


def chunks(batches: list[int], counts: dict[int, int], budget: int) -> list[list[int]]:
    """Consecutive runs of ``batches`` holding at most ``budget`` changes each (at least one batch)."""
    out: list[list[int]] = []
    size = 0
    for batch in batches:
        n = counts.get(batch, 0)
        if out and size + n <= budget:
            out[-1].append(batch)
            size += n
        else:
            out.append([batch])
            size = n
    return out


@dataclass
class CaptureStats:
    batches: int = 0
    changes: int = 0
    log_bytes: int = 0
    lag: float | None = None


class CaptureWriter:
    """The capture's ``foreachBatch``: writes a batch's records into the log, unless it is there already."""

    def __init__(self, change_log: ChangeLog, table: str, metrics: Metrics, log_every: float,
                 clock: Callable[[], float] = time.time):
        self.log, self.table, self.metrics, self.log_every, self.clock = change_log, table, metrics, log_every, clock
        #: Batches completely in the log (an earlier run's too): a replay of one writes nothing.
        self.written = set(change_log.complete())
        self.stats = CaptureStats(log_bytes=change_log.size() if self.written else 0)
        self.busy = threading.Event()
        #: Set once a batch went through (the first one proves the stream holds everything since the pin).
        self.ran = threading.Event()
        self._logged = clock()

    def __call__(self, batch_df: Any, batch_id: int) -> None:
        from pyspark.sql import functions as F

        self.busy.set()
        try:
            if batch_id in self.written:
                return
            sc = batch_df.sparkSession.sparkContext
            with spark_job(sc, f"capture-{self.table}", f"capture {self.table}: batch {batch_id} into the change log",
                           f"capture {self.table} batch {batch_id}"):
                cached = batch_df.persist()
                try:
                    row = cached.agg(F.count(F.lit(1)).alias("n"),
                                     F.max("approximate_creation_time").alias("newest")).first()
                    if row.n:
                        path = self.log.batch_path(batch_id)
                        cached.write.mode("overwrite").parquet(path)
                finally:
                    cached.unpersist()
            if row.n:
                self.stats.log_bytes += self.log.files.size(path)
                self.written.add(batch_id)
                self.stats.batches += 1
                self.stats.changes += row.n
                newest = row.newest
                # Whole-minute creation times (DynamoDB Local) say nothing about the lag.
                fine = newest is not None and bool(newest.second or newest.microsecond)
                self.stats.lag = self.clock() - newest.timestamp() if fine else None
            self.ran.set()
            if self.clock() - self._logged >= self.log_every:
                self.report()
        finally:
            self.busy.clear()

    def report(self, event: str = "progress") -> None:
        self._logged = self.clock()
        s = self.stats
        lag = f"lag {s.lag:.1f} s" if s.lag is not None else "lag n/a (record times are whole minutes)"
        log.info("capture %s: %s changes in %s batches into the change log (%.1f MiB), %s", self.table,
                 f"{s.changes:,}", f"{s.batches:,}", s.log_bytes / 1048576, lag)
        self.metrics.record("capture", event, self.table, batches=s.batches, changes=s.changes,
                            log_bytes=s.log_bytes, lag_seconds=s.lag)


class Capture:
    """The capture query ("capture <table>"), from start to stop; ``on_failure`` runs if it fails on its own."""

    def __init__(self, spark: Any, open_args: dict[str, Any], checkpoint: str, trigger_seconds: float,
                 writer: CaptureWriter, on_failure: Callable[[], None]):
        self.spark, self.open_args, self.checkpoint = spark, open_args, checkpoint
        self.trigger_seconds, self.writer, self.on_failure = trigger_seconds, writer, on_failure
        self.query: Any = None
        self._stopping = threading.Event()
        self.failed = threading.Event()

    @property
    def table(self) -> str:
        return self.writer.table

    def start(self, first_batch_seconds: float = FIRST_BATCH_SECONDS) -> "Capture":
        """Start the query and wait for its first batch (the pin's proof), or its failure."""
        args = dict(self.open_args)
        stream = args.pop("source").open_stream(self.spark, checkpoint=self.checkpoint,
                                                trigger_seconds=self.trigger_seconds, read_partitions=1, **args)
        self.query = (stream.writeStream.queryName(f"capture {self.table}")
                      .option("checkpointLocation", self.checkpoint)
                      .trigger(processingTime=f"{self.trigger_seconds} seconds")
                      .foreachBatch(self.writer).start())
        log.info("capture %s: reading the stream into the change log %s while the snapshot runs (streaming "
                 "query %s, checkpoint %s)", self.table, self.writer.log.path, self.query.id, self.checkpoint)
        threading.Thread(target=self._watch, name=f"capture {self.table}", daemon=True).start()
        deadline = time.monotonic() + first_batch_seconds
        while not self.writer.ran.wait(0.5) and not self.failed.is_set():
            if time.monotonic() > deadline:
                log.warning("capture %s: no batch after %.0f s; the snapshot starts anyway", self.table,
                            first_batch_seconds)
                break
        self.raise_if_failed()
        if self.writer.ran.is_set():
            log.info("capture %s: first batch through (the stream holds every change since the pin); the snapshot "
                     "starts", self.table)
        return self

    def _watch(self) -> None:
        try:
            self.query.awaitTermination()
        except Exception:  # noqa: BLE001 - it failed: query.exception() says how
            pass
        if not self._stopping.is_set():
            self.failed.set()
            try:
                self.on_failure()
            except Exception:  # noqa: BLE001 - the session is going away; the failure is reported anyway
                log.debug("capture %s: could not signal its failure", self.table, exc_info=True)

    @property
    def _what(self) -> str:
        return f"the capture of {self.table}'s stream into the change log"

    def raise_if_failed(self) -> None:
        if self.failed.is_set():
            raise_if_failed(self.query, self._what)
            raise MigratorError(f"{self._what} stopped on its own")

    def stop(self, wait: bool = True) -> None:
        """Stop after the batch in flight (or at once: a replay rewrites it); raises if the query had failed."""
        if self.query is None or self._stopping.is_set():
            return
        self._stopping.set()
        deadline = time.monotonic() + (STOP_SECONDS if wait else 0.0)
        while self.writer.busy.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.query.stop()
        self.writer.report("summary")
        raise_if_failed(self.query, self._what)


@dataclass
class LogResult:
    table: str
    batches: int = 0
    totals: BatchCounts = field(default_factory=BatchCounts)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        t = self.totals
        rate = t.records / self.seconds if self.seconds > 0 else 0.0
        return [
            f"change log {self.table}: applied; replication goes on live",
            f"  batches        : {self.batches:,} captured while the snapshot ran",
            f"  changes        : {t.INSERT:,} INSERT, {t.MODIFY:,} MODIFY, {t.REMOVE:,} REMOVE "
            f"in {self.seconds:,.1f} s ({rate:,.0f} changes/s)",
            f"  applied        : {t.puts:,} puts, {t.deletes:,} deletes (last change per key)",
            f"  dead-lettered  : {t.dead_lettered:,} items",
        ] + ([f"  filter         : {t.filtered:,} changes left an item outside source.filterExpression (deleted "
              "from the target)"] if t.filtered else [])


def apply_chunk(spark: Any, change_log: ChangeLog, batches: list[int], task: ApplyTask, parts: int,
                table: str) -> BatchCounts:
    """Apply consecutive batches of the log in one Spark job: shuffled by key, the last change per key."""
    rows = change_log.read(spark, batches).repartition(parts, "keys")
    sc = spark.sparkContext
    span = f"batch {batches[0]}" if len(batches) == 1 else f"batches {batches[0]} to {batches[-1]}"
    with spark_job(sc, f"apply-log-{table}", f"apply change log {table}: {span}", f"apply change log {table}"):
        results = rows.rdd.mapPartitions(functools.partial(apply_partition, task, order=log_order)).collect()
    return BatchCounts.total(results)


class LogApplier:
    """Applies the log to the target after the snapshot, then hands over to live replication.

    ``savepoint`` records the last batch applied (``save()`` persists it), so an interrupted apply
    resumes with the next chunk; applying a chunk again leaves the same items.
    """

    def __init__(self, spark: Any, change_log: ChangeLog, savepoint: Any, save: Callable[[], None],
                 task: ApplyTask, parts: int, table: str, metrics: Metrics | None = None, log_every: float = 5.0):
        self.spark, self.log, self.savepoint, self.save = spark, change_log, savepoint, save
        self.task, self.parts, self.table = task, parts, table
        self.metrics = metrics or Metrics()
        self.log_every = log_every

    def _counts(self, batches: list[int]) -> dict[int, int]:
        frame = self.log.read(self.spark, batches)
        with spark_job(self.spark.sparkContext, f"apply-log-{self.table}",
                       f"apply change log {self.table}: count {len(batches)} batches",
                       f"count change log {self.table}"):
            return {row["batch"]: row["count"] for row in frame.groupBy("batch").count().collect()}

    def run(self, capture: Capture | None, stop: threading.Event) -> LogResult | None:
        """Apply every complete batch; stop ``capture`` near the end. None when ``stop`` cut it short."""
        result = LogResult(self.table)
        started = time.monotonic()
        meter = RateMeter(started)
        done = 0
        last_line = started
        budget = CHANGES_PER_TASK * self.parts
        known: dict[int, int] = {}  # changes per batch, counted once
        while True:
            if capture is not None:
                capture.raise_if_failed()
            pending = [b for b in self.log.complete() if b > self.savepoint.change_log_applied]
            new = [b for b in pending if b not in known]
            if new:
                known.update(self._counts(new))
            counts = {b: known.get(b, 0) for b in pending}
            if capture is not None and sum(counts.values()) <= budget:
                log.info("change log %s: %d batch(es) left; stopping the capture to hand over to replication",
                         self.table, len(pending))
                capture.stop()
                capture = None
                continue  # list again: the capture's last batches
            if not pending:
                break
            expected = done + sum(counts.values())
            planned = chunks(pending, counts, budget)
            log.info("change log %s: applying %s changes of %d batches in %d job(s)%s", self.table,
                     f"{sum(counts.values()):,}", len(pending), len(planned),
                     "; the capture goes on meanwhile" if capture is not None else "")
            left = len(pending)
            for chunk in planned:
                if stop.is_set():
                    return None
                applied = apply_chunk(self.spark, self.log, chunk, self.task, self.parts, self.table)
                result.totals.add(applied)
                result.batches += len(chunk)
                done += applied.records
                self.savepoint.change_log_applied = chunk[-1]
                self.save()
                now = time.monotonic()
                meter.add(now, applied.records)
                left -= len(chunk)
                if now - last_line >= self.log_every or not left:
                    last_line = now
                    self._progress(done, expected, meter, left, capture is not None)
        self.savepoint.change_log_done = True
        self.save()
        result.seconds = time.monotonic() - started
        self.metrics.record("apply_log", "summary", self.table, changes_applied=done, changes_expected=done,
                            changes_per_second=done / result.seconds if result.seconds > 0 else None,
                            eta_seconds=0.0, batches_left=0)
        self.log.remove_all()
        log.info("change log %s: applied in full and deleted (%s)", self.table, self.log.path)
        return result

    def _progress(self, done: int, expected: int, meter: RateMeter, left: int, capturing: bool) -> None:
        extra = f"{left} batches left" + ("; the capture goes on" if capturing else "")
        log.info("%s", progress_line(f"apply change log {self.table}", done, expected, meter, extra))
        self.metrics.record("apply_log", "progress", self.table, changes_applied=done, changes_expected=expected,
                            changes_per_second=meter.rate(), eta_seconds=meter.eta_seconds(expected),
                            batches_left=left)
