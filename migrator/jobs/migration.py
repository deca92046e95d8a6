"""A whole migration: pin the stream, copy the snapshot, replicate changes.

Order matters for "no lost change": the stream is enabled (or an existing one is checked) and its
position recorded in the savepoint *before* the first Scan page is read. Every change made after
that point is in the stream; replication starts from that position once the snapshot is complete,
so a change made during the snapshot is applied even if the scan read the item before it. Changes
the snapshot already saw are applied again, which converges to the same item. With the change log
(:mod:`.change_log`, the default) the stream is read from the pin on while the snapshot runs, into
files applied once it is done; replication then goes on from the capture's checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any, Callable, ContextManager
from urllib.parse import urlsplit

from ..errors import SavepointError, SourceError, StreamTrimmedError
from ..metrics import Metrics
from .plan import SnapshotPlan
from .snapshot import run_snapshot
from .change_log import Capture, CaptureWriter, ChangeLog, LogApplier
from .hadoop_files import HadoopFiles
from .streaming import ApplyTask, run_streaming

log = logging.getLogger(__name__)

#: DynamoDB Streams keep records 24 hours. Replication must start within that time of the pin.
RETENTION_SECONDS = 24 * 3600
#: Margin for clock skew and the time the first batch takes to reach the oldest records.
RETENTION_MARGIN_SECONDS = 15 * 60


def pin_stream(plan: SnapshotPlan, now: float | None = None) -> tuple[str, float]:
    """Make sure the source has a usable stream and record its position; returns (ARN, pinned at).

    A stream pinned by an earlier run of this migration is kept (its pin time too), provided it is
    still the table's stream.
    """
    config, savepoint, source = plan.config, plan.savepoint, plan.source_backend
    info = source.stream_state(config, plan.source_spec)
    problem = source.stream_problem(info)
    if problem:
        raise SourceError(problem, info.name)
    if savepoint.stream_arn:
        lost = source.stream_lost(info, savepoint.stream_arn)
        if lost:
            raise StreamTrimmedError(lost, info.name)
        return savepoint.stream_arn, float(savepoint.stream_pinned_at or 0.0)
    if savepoint.started and plan.copies_snapshot:
        raise SavepointError(
            f"the snapshot in {plan.store.path if plan.store else 'the savepoint'} was started without "
            "streamChanges, so no stream position was pinned before it: changes made since may be missing. "
            "Move the savepoint away to take a new snapshot with streamChanges on",
            plan.store.path if plan.store else None)
    if info.stream_arn is None:
        arn = source.enable_stream(plan.source_spec, info, config.streaming.view_type)
    else:
        arn = info.stream_arn
        log.info("using the existing %s stream of %s; the changes it still holds from before the snapshot "
                 "(up to 24 h) are applied again first, in order, which converges to the same items",
                 info.stream_view_type, info.name)
    savepoint.stream_arn = arn
    savepoint.stream_pinned_at = time.time() if now is None else now
    if plan.store is not None:
        plan.store.save(savepoint)
    log.info("stream %s pinned: %s", arn, source.pin_note)
    return arn, savepoint.stream_pinned_at


def check_retention(checkpoint: str, pinned_at: float, now: float | None = None, spark: Any = None) -> None:
    """Refuse to start replication from the pin if the stream may have trimmed changes since.

    Only for a first start: once Spark has checkpointed offsets, the reader detects trimmed
    records itself (``TrimmedDataAccessException``). A checkpoint on a Hadoop file system (``s3a://``,
    ``hdfs://``...) is looked at through ``spark``'s Hadoop configuration.
    """
    if _has_offsets(checkpoint, spark):
        return
    age = (time.time() if now is None else now) - pinned_at
    if age > RETENTION_SECONDS - RETENTION_MARGIN_SECONDS:
        raise StreamTrimmedError(
            f"the stream position was pinned {age / 3600:.1f} hours ago, and DynamoDB Streams keep changes "
            "24 hours: changes made early in the snapshot may already be trimmed, so they would be lost. "
            "Move the savepoint and checkpoint away and start over (a faster snapshot: more segments or "
            "capacity)")


def _has_offsets(checkpoint: str, spark: Any = None) -> bool:
    """Whether Spark has committed offsets in ``checkpoint`` (files named by batch id in ``offsets/``)."""
    if not urlsplit(checkpoint).scheme:
        offsets = os.path.join(checkpoint, "offsets")
        return os.path.isdir(offsets) and any(name.isdigit() for name in os.listdir(offsets))
    if spark is None:
        return True  # cannot look: the reader's own trimmed-data checks apply
    try:
        return any(name.isdigit() for name in HadoopFiles(spark).names(checkpoint.rstrip("/") + "/offsets"))
    except Exception as exc:  # noqa: BLE001 - py4j wraps the Hadoop error; say which setting it concerns
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SavepointError(
            f"streaming.checkpointLocation {checkpoint}: cannot be read ({first}); for s3a:// paths Spark "
            "needs hadoop-aws (see docs/emr.md)", checkpoint) from exc


def run_migration(spark: Any, plan: SnapshotPlan, stop: threading.Event, stop_when_idle: float | None,
                  emit: Callable[[list[str]], None], log_every: float = 5.0,
                  streaming: threading.Event | None = None, metrics: Metrics | None = None,
                  slot: ContextManager[Any] | None = None) -> Any:
    """Everything the configuration asks for; each phase's summary goes to ``emit`` as it ends. Returns
    the replication's :class:`~.streaming.StreamingResult` (None when there was none, or it was cut short).

    ``streaming`` is set when replication starts (signals then stop it gracefully); ``stop`` ends
    replication after the batch in flight. ``slot`` (a migration of many tables) is held from the stream's
    pin to the snapshot's end: a table waits for it before its stream is pinned, so that a long wait does
    not use up the stream's retention.
    """
    metrics = metrics or Metrics()
    held = contextlib.ExitStack()
    held.enter_context(slot or contextlib.nullcontext())
    with held:
        return _run(spark, plan, stop, stop_when_idle, emit, log_every, streaming, metrics, held)


def _run(spark: Any, plan: SnapshotPlan, stop: threading.Event, stop_when_idle: float | None,
         emit: Callable[[list[str]], None], log_every: float, streaming: threading.Event | None,
         metrics: Metrics, held: contextlib.ExitStack) -> Any:
    config = plan.config
    stream_arn = pinned_at = None
    if config.target.stream_changes:
        stream_arn, pinned_at = pin_stream(plan)
        refuse_unapplied_log(plan)
    checkpoint = config.checkpoint_location
    task = None
    if config.target.stream_changes:
        # The write cap is shared by the partitions of a batch, at most one per core at a time.
        write_rate = plan.write_cap.total / plan.cores if plan.write_cap.total else None
        task = ApplyTask(target=plan.writer_spec, renames=config.rename_map,
                         dead_letter_dir=config.dead_letter_path, write_rate=write_rate,
                         item_filter=config.source.item_filter, changes=plan.source_backend.changes)
    stream_args = dict(source=plan.source_backend, spec=plan.source_spec, stream_arn=stream_arn,
                       max_records=config.streaming.max_records_per_batch, pinned_at=pinned_at or None)
    capture = None
    try:
        if plan.captures:
            check_retention(checkpoint, pinned_at, spark=spark)
            capture = _start_capture(spark, plan, stream_args, metrics, log_every)
        if plan.copies_snapshot:
            try:
                plan.prepare_snapshot(pinned_at, abort=capture.failed if capture is not None else None)
                emit(run_snapshot(spark, plan, log_every=log_every, metrics=metrics).lines())
            except BaseException:
                if capture is not None and capture.failed.is_set():
                    capture.raise_if_failed()  # the capture's failure cancelled the snapshot: it is the cause
                raise
        else:
            plan.prepare_target()
        held.close()  # the snapshot is done: the next table may start
        if not config.target.stream_changes or stop.is_set():
            return None
        savepoint = plan.savepoint
        if savepoint.change_log_path and not savepoint.change_log_done:
            applier = LogApplier(spark, ChangeLog(HadoopFiles(spark), savepoint.change_log_path), savepoint,
                                 plan.save, task, plan.cores, plan.source.name, metrics,
                                 log_every)
            applied = applier.run(capture, stop)
            capture = None  # stopped by the applier
            if applied is None:
                return None
            emit(applied.lines())
        elif plan.source_backend.retention_seconds:
            check_retention(checkpoint, pinned_at, spark=spark)
    finally:
        if capture is not None:
            _stop_quietly(capture)
    if streaming is not None:
        streaming.set()
    result = run_streaming(spark, plan.source_backend, plan.source_spec, stream_arn, task, plan.source.name, checkpoint,
                           config.streaming.trigger_seconds, config.streaming.max_records_per_batch,
                           stop_when_idle, stop, metrics=metrics, read_partitions=plan.cores,
                           pinned_at=pinned_at or None, skip_through=plan.savepoint.change_log_applied)
    emit(result.lines(plan.source.name))
    return result


def refuse_unapplied_log(plan: SnapshotPlan) -> None:
    """A change log this migration started must be applied: turning it off midway would lose it."""
    savepoint = plan.savepoint
    if plan.config.streaming.change_log or not savepoint.change_log_path or savepoint.change_log_done:
        return
    where = plan.store.path if plan.store else "the savepoint"
    raise SavepointError(
        f"streaming.changeLog is false, but {where} records a change log at {savepoint.change_log_path} that is "
        "not applied yet: the changes captured while the snapshot ran are only there. Set streaming.changeLog "
        "back to true to finish this migration, or move the savepoint, checkpoint and change log away to start "
        "over", where)


def _start_capture(spark: Any, plan: SnapshotPlan, stream_args: dict[str, Any], metrics: Metrics,
                   log_every: float) -> Capture:
    config = plan.config
    path = plan.savepoint.change_log_path or _spark_path(config.change_log_location)
    if plan.savepoint.change_log_path != path:
        plan.savepoint.change_log_path = path
        plan.save()
    writer = CaptureWriter(ChangeLog(HadoopFiles(spark), path), plan.source.name, metrics, log_every)
    group = f"snapshot-{plan.source.name}"  # run_snapshot's job group
    return Capture(spark, stream_args, config.checkpoint_location, config.streaming.trigger_seconds, writer,
                   on_failure=lambda: spark.sparkContext.cancelJobGroup(group)).start()


def _spark_path(path: str) -> str:
    """A path for Spark's writers: a local one made absolute (Spark resolves relative ones elsewhere),
    and ``s3://`` as ``s3a://``, the only S3 file system of Spark 4's Hadoop (docs/emr.md)."""
    scheme = urlsplit(path).scheme
    if not scheme:
        return os.path.abspath(path)
    return "s3a://" + path[len("s3://"):] if scheme == "s3" else path


def _stop_quietly(capture: Capture) -> None:
    """Stop the capture on the way out of an error or a signal, which is what gets reported."""
    try:
        capture.stop(wait=False)
    except Exception:  # noqa: BLE001 - the error on its way out says what happened
        log.warning("capture %s: stopped with an error", capture.table, exc_info=True)
