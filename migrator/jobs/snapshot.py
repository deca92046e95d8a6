"""The snapshot copy: an RDD of Scan segments; each task scans its segment and writes what it reads.

Items never leave the Python worker that scanned them: a task reads a page, writes it in batches
(several in flight), records the page's ``LastEvaluatedKey`` once every item of it is acknowledged,
and returns only counts. The driver plans, watches progress, writes savepoints and sums the counts.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..convert import rename_item, ttl_expired
from ..deadletter import DeadLetterWriter
from ..errors import TargetError
from ..metrics import Metrics
from ..progress import ProgressAddress, ProgressClient, ProgressServer, RateMeter, progress_line
from ..sources.base import Segment
from ..throttle import RateLimiter, RetryStats
from .plan import SnapshotPlan
from .ui import spark_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentTask:
    """Everything one task needs, as plain picklable values (clients are built in the task)."""

    segment: Segment
    base_items: int
    base_skipped: int
    base_filtered: int
    source: Any  # the source backend's SourceSpec
    target: Any  # the target backend's TargetSpec
    renames: dict[str, str]
    ttl_attribute: str | None
    now: float
    scan_limit: int | None
    read_rate: float | None
    write_rate: float | None
    dead_letter_dir: str | None
    progress: ProgressAddress | None
    counts_scanned: bool = False  # source.filterExpression: progress counts the items examined


def copy_segment(task: SegmentTask) -> dict[str, Any]:
    """Read one segment and write every live item to the target. Runs on an executor.

    Returns
    -------
    dict
        Counts for the segment (``items`` includes what earlier runs copied before the resume key).
    """
    seg = task.segment
    started = time.monotonic()
    progress = ProgressClient(task.progress, seg.segment)
    start_key, items, skipped, filtered = seg.start_key, task.base_items, task.base_skipped, task.base_filtered
    known = progress.start()
    if known is not None and known.items > items:
        # A retried task: the driver knows a later position than the plan did.
        start_key, items, skipped, filtered = known.last_key, known.items, known.skipped, known.filtered
    if known is not None and known.done:
        progress.close()
        return {"segment": seg.segment, "items": known.items, "skipped": known.skipped, "filtered": known.filtered,
                "resumed": True}
    resumed_from = items
    now = time.monotonic()
    read_limiter = RateLimiter(task.read_rate, now) if task.read_rate else None
    write_limiter = RateLimiter(task.write_rate, now) if task.write_rate else None
    dead_letter = (DeadLetterWriter(task.dead_letter_dir, f"{task.target.name}-segment{seg.segment}")
                   if task.dead_letter_dir else None)
    scan_stats = RetryStats()
    writer = task.target.writer(dead_letter=dead_letter, limiter=write_limiter, snapshot=True, partition=seg.segment)

    def retries() -> dict[str, int]:
        w = writer.stats
        return {"throttles": w.throttles + scan_stats.throttles, "unprocessed": w.unprocessed,
                "transient_errors": w.transient_errors + scan_stats.transient_errors,
                "dead_lettered": w.dead_lettered}

    examined_from = items + skipped + filtered
    counted = [0]  # items the source examined in this run (a filtered copy's progress counts those)
    progress.follow(writer.committed, lambda: resumed_from + writer.stats.puts, retries,
                    (lambda: examined_from + counted[0]) if task.counts_scanned else None)
    try:
        segment = Segment(seg.segment, seg.total_segments, start_key)
        for page, position, scanned in task.source.pages(segment, task.scan_limit, read_limiter, scan_stats):
            filtered += scanned - len(page)
            counted[0] += scanned
            for item in page:
                if ttl_expired(item, task.ttl_attribute, task.now):
                    skipped += 1
                    continue
                writer.put(rename_item(item, task.renames))
                items += 1
            if position is not None:
                writer.mark((position, items, skipped, filtered))
        writer.flush()
        progress.finish(items, skipped, retries(), filtered)
    finally:
        writer.close()
        progress.close()
        if dead_letter is not None:
            dead_letter.close()
    stats = writer.stats
    return {
        "segment": seg.segment,
        "items": items,
        "copied_now": items - resumed_from,
        "skipped": skipped,
        "filtered": filtered,
        "dead_lettered": stats.dead_lettered,
        "dead_letter_file": dead_letter.path if dead_letter is not None else None,
        "throttles": stats.throttles + scan_stats.throttles,
        "unprocessed": stats.unprocessed,
        "transient_errors": stats.transient_errors + scan_stats.transient_errors,
        "consumed_wcu": stats.consumed,
        "numbers_as_strings": getattr(getattr(writer, "notes", None), "numbers_as_strings", 0),
        "seconds": time.monotonic() - started,
        "resumed": resumed_from > 0,
    }


def copy_segments(tasks: list[SegmentTask]) -> list[dict[str, Any]]:
    """Copy several segments one after the other (a task of a snapshot that leaves cores to the capture)."""
    return [copy_segment(task) for task in tasks]


def task_groups(tasks: list[Any], slots: int) -> list[list[Any]]:
    """``tasks`` dealt round-robin into at most ``slots`` groups, one Spark task each."""
    count = max(1, min(slots, len(tasks)))
    return [tasks[i::count] for i in range(count)]


@dataclass
class SnapshotResult:
    """What a snapshot run did; ``lines()`` is the summary printed at the end."""

    source_table: str
    target_table: str
    total_segments: int
    source_item_count: int
    items: int = 0
    items_this_run: int = 0
    skipped: int = 0
    #: With source.filterExpression: items examined that it left out (None without a filter).
    filtered: int | None = None
    dead_lettered: int = 0
    numbers_as_strings: int = 0
    throttles: int = 0
    unprocessed: int = 0
    segments_this_run: int = 0
    seconds: float = 0.0
    dead_letter_files: list[str] = field(default_factory=list)
    per_segment: dict[int, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        rate = self.items_this_run / self.seconds if self.seconds > 0 else 0.0
        out = [
            f"snapshot {self.source_table} -> {self.target_table}: done",
            f"  items copied   : {self.items:,} in {self.total_segments} segments "
            f"(source reports ~{self.source_item_count:,} items)",
            f"  this run       : {self.items_this_run:,} items from {self.segments_this_run} segments in "
            f"{self.seconds:,.1f} s ({rate:,.0f} items/s)",
            f"  skipped        : {self.skipped:,} items whose TTL had expired",
        ]
        if self.filtered is not None:
            scanned = self.items + self.skipped + self.filtered
            out.append(f"  filter         : {scanned:,} items scanned, {scanned - self.filtered:,} matched "
                       "(source.filterExpression)")
        out += [
            f"  retried        : {self.throttles:,} throttled calls, {self.unprocessed:,} unprocessed items",
            f"  dead-lettered  : {self.dead_lettered:,} items",
        ]
        out.extend(f"    {path}" for path in self.dead_letter_files)
        if self.numbers_as_strings:
            out.append(f"  numbers as text: {self.numbers_as_strings:,} (beyond Decimal128; target.numbers.onOverflow)")
        return out


class _Monitor(threading.Thread):
    """Logs progress every ``log_every`` seconds and saves the savepoint every ``save_every``."""

    def __init__(self, plan: SnapshotPlan, server: ProgressServer, log_every: float, save_every: float | None,
                 metrics: Metrics, clock: Callable[[], float] = time.monotonic):
        super().__init__(name="snapshot-monitor", daemon=True)
        self.plan, self.server, self.metrics = plan, server, metrics
        self.started = clock()
        self.log_every, self.save_every, self.clock = log_every, save_every, clock
        self.stopped = threading.Event()
        self.base, _ = server.totals()
        self.meter = RateMeter(clock())
        #: A filtered copy writes an unknown share of what it scans: its progress and ETA follow the items
        #: the source examined instead.
        self.scanned = RateMeter(clock()) if _filtered(plan) else None
        self.base_examined = server.examined() if self.scanned else 0

    def run(self) -> None:
        last_log = last_save = self.clock()
        while not self.stopped.wait(0.5):
            now = self.clock()
            if now - last_log >= self.log_every:
                last_log = now
                self.log_line(now)
            if self.save_every is not None and now - last_save >= self.save_every:
                last_save = now
                self.save()

    def log_line(self, now: float, event: str = "progress") -> None:
        live, done = self.server.totals()
        self.meter.add(now, live - self.base)
        expected = max(0, self.plan.source.item_count - self.base)
        segments = f"{done}/{self.plan.total_segments} segments done"
        pace, goal = self.meter, expected
        if self.scanned is None:
            log.info("%s", progress_line(f"snapshot {self.plan.source.name}", live - self.base, expected, self.meter,
                                         segments))
        else:
            pace, goal = self.scanned, max(0, self.plan.source.item_count - self.base_examined)
            self.scanned.add(now, self.server.examined() - self.base_examined)
            log.info("%s", progress_line(f"snapshot {self.plan.source.name} (scanned)", self.scanned.samples[-1][1],
                                         goal, self.scanned, f"{live - self.base:,} matched and written; {segments}"))
        with self.server.lock:
            skipped = sum(s.skipped for s in self.plan.savepoint.segments.values())
        retries = self.server.stats()
        self.metrics.record(
            "snapshot", event, self.plan.source.name, items_written=live - self.base, items_skipped=skipped,
            items_expected=expected if self.scanned is None else None, items_per_second=self.meter.rate(),
            eta_seconds=pace.eta_seconds(goal) if event == "progress" else 0.0,
            segments_done=done, segments_total=self.plan.total_segments, seconds=now - self.started,
            **{k: retries.get(k, 0) for k in ("throttles", "unprocessed", "transient_errors", "dead_lettered")})

    def save(self) -> None:
        if self.plan.store is None:
            return
        with self.server.lock:
            self.plan.store.save(self.plan.savepoint)

    def stop(self) -> None:
        self.stopped.set()


def run_snapshot(spark: Any, plan: SnapshotPlan, log_every: float = 5.0,
                 metrics: Metrics | None = None) -> SnapshotResult:
    """Create the target table if needed, copy every pending segment, keep the savepoint current.

    On any failure or interruption (including SIGTERM turned into an exception by the CLI), the
    savepoint is written before the error propagates, so a rerun resumes from there.
    """
    config = plan.config
    if plan.target.problems:
        raise TargetError("; ".join(plan.target.problems), plan.target.table)
    plan.prepare_target()
    result = SnapshotResult(plan.source.name, plan.target.table, plan.total_segments, plan.source.item_count)
    started = time.monotonic()
    if not plan.segments:
        log.info("snapshot %s: every segment is already copied (savepoint %s); nothing to do",
                 plan.source.name, plan.store.path if plan.store else "-")
        if plan.savepoint.complete:
            plan.finish_target()  # again: a run may have stopped between its last segment and this
        _sum_savepoint(plan, result)
        return result

    sc = spark.sparkContext
    driver_host = sc.getConf().get("spark.driver.host", "127.0.0.1")
    bind_host = sc.getConf().get("spark.driver.bindAddress", driver_host)
    server = ProgressServer(plan.savepoint, bind_host=bind_host, advertise_host=driver_host).start()
    tasks = [_task(plan, segment, server.address) for segment in plan.segments]
    groups = task_groups(tasks, plan.snapshot_slots)
    save_every = float(config.savepoints.interval_seconds) if config.savepoints else None
    monitor = _Monitor(plan, server, log_every, save_every, metrics or Metrics())
    label = f"snapshot {plan.source.name}"
    group = f"snapshot-{plan.source.name}"
    monitor.start()
    try:
        with spark_job(sc, group, f"{label} -> {plan.target.table}: {len(tasks)} of {plan.total_segments} "
                       f"Scan segments in {len(groups)} tasks", label):
            rdd = sc.parallelize(groups, len(groups)).setName(f"{label} segments")
            results = rdd.flatMap(copy_segments).collect()
    except BaseException:
        monitor.stop()
        monitor.save()
        if plan.store is not None:
            log.warning("snapshot %s interrupted; progress saved in %s, rerun with the same configuration "
                        "to resume", plan.source.name, plan.store.path)
        try:
            sc.cancelJobGroup(group)
        except Exception:  # noqa: BLE001 - the session may already be gone; the savepoint is written
            pass
        raise
    finally:
        monitor.stop()
        server.stop()
    monitor.log_line(time.monotonic(), "summary")
    for r in results:
        log.debug("segment %d: %s", r["segment"], r)
        state = plan.savepoint.segment(r["segment"])
        state.done, state.last_key, state.items, state.skipped = True, None, r["items"], r["skipped"]
        state.filtered = r.get("filtered", 0)
        result.items_this_run += r.get("copied_now", 0)
        result.dead_lettered += r.get("dead_lettered", 0)
        result.numbers_as_strings += r.get("numbers_as_strings", 0)
        result.throttles += r.get("throttles", 0)
        result.unprocessed += r.get("unprocessed", 0)
        if r.get("dead_letter_file"):
            result.dead_letter_files.append(r["dead_letter_file"])
    if plan.savepoint.complete:
        plan.finish_target()
        plan.savepoint.completed_at = time.time()
    monitor.save()
    result.segments_this_run = len(results)
    result.seconds = time.monotonic() - started
    _sum_savepoint(plan, result)
    return result


def _sum_savepoint(plan: SnapshotPlan, result: SnapshotResult) -> None:
    for number, state in plan.savepoint.segments.items():
        if state.done:
            result.per_segment[number] = state.items
    result.items = sum(result.per_segment.values())
    result.skipped = sum(s.skipped for s in plan.savepoint.segments.values() if s.done)
    if _filtered(plan):
        result.filtered = sum(s.filtered for s in plan.savepoint.segments.values() if s.done)


def _task(plan: SnapshotPlan, segment: Segment, address: ProgressAddress) -> SegmentTask:
    config = plan.config
    state = plan.savepoint.segments.get(segment.segment)
    write_cap = plan.write_cap.per_task
    return SegmentTask(
        segment=segment,
        base_items=state.items if state and segment.start_key else 0,
        base_skipped=state.skipped if state and segment.start_key else 0,
        base_filtered=state.filtered if state and segment.start_key else 0,
        source=plan.reads,
        target=plan.writer_spec,
        renames=config.rename_map,
        ttl_attribute=plan.source.ttl_attribute,
        now=plan.now,
        scan_limit=plan.scan_limit,
        read_rate=plan.read_cap.per_task,
        write_rate=write_cap,
        dead_letter_dir=config.dead_letter_path,
        progress=address,
        counts_scanned=_filtered(plan),
    )


def _filtered(plan: SnapshotPlan) -> bool:
    return getattr(plan.reads, "item_filter", None) is not None
