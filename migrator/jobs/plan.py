"""The plan of a snapshot copy: what the job found and what it will do, before it does anything.

``--dry-run`` prints this plan and stops; a real run prints it too and then carries it out. Building
it only describes tables (no write, no Spark).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import MigratorConfig
from ..errors import SavepointError
from ..savepoints import SavepointStore, SnapshotSavepoint, savepoint_name
from ..sources import backend_for as source_backend_for, written_through
from ..sources.base import PlannedSource, Segment
from ..sources.dynamodb.scan import page_limit
from ..tables import TableInfo
from ..targets import backend_for
from ..targets.base import PlannedTarget
from ..throttle import ThroughputCap

log = logging.getLogger(__name__)


@dataclass
class SnapshotPlan:
    """Everything a snapshot run decided before copying.

    Attributes
    ----------
    segments : list of Segment
        The segments still to copy, each with its resume position.
    savepoint : SnapshotSavepoint
        Loaded from the store when resuming, else new; the run updates it.
    skipped_segments : set of int
        Done in an earlier run, or listed in ``skipSegments``.
    """

    config: MigratorConfig
    source_spec: Any     # the source backend's SourceSpec, what tasks read with
    source: TableInfo
    target: Any          # the target backend's plan (TargetPlanLike)
    target_spec: Any     # the target backend's TargetSpec
    writer_spec: Any     # what tasks write with: target_spec, or the source's wrapper of it (written_through)
    total_segments: int
    segments: list[Segment]
    skipped_segments: set[int]
    read_cap: ThroughputCap
    write_cap: ThroughputCap
    scan_limit: int | None
    cores: int
    savepoint: SnapshotSavepoint
    store: SavepointStore | None
    resumed: bool
    now: float = field(default_factory=time.time)
    stream_problem: str | None = None
    #: The stream is captured into the change log while the snapshot runs (streaming.changeLog).
    captures: bool = False
    #: What the snapshot reads when not ``source_spec`` (an export of the table); see :meth:`prepare_snapshot`.
    snapshot_spec: Any = None
    #: Snapshot tasks at once when decided from outside (the table's share of a migration of many).
    slots: int | None = None

    @property
    def snapshot_slots(self) -> int:
        return self.slots or snapshot_slots(self.cores, self.captures)

    @property
    def problems(self) -> list[str]:
        """Everything that stops the run before it writes anything."""
        problems = self.target.problems + ([self.stream_problem] if self.stream_problem else [])
        if self.captures and self.cores < 2:
            problems.append(
                f"streaming.changeLog: the capture needs a core of its own beside the snapshot, and this Spark has "
                f"{self.cores}; give it at least 2 (--master 'local[2]') or set streaming.changeLog: false")
        return problems

    @property
    def source_backend(self) -> Any:
        return source_backend_for(self.config.source)

    @property
    def reads(self) -> Any:
        """The SourceSpec the snapshot's tasks read with."""
        return self.snapshot_spec or self.source_spec

    def prepare_snapshot(self, not_before: float | None, abort: Any = None) -> None:
        """Let the source prepare what the snapshot reads, when not the table itself (an export it takes
        now, from ``not_before`` on); the segments become that source's (one per data file)."""
        found = self.source_backend.snapshot_source(self.config, PlannedSource(self.source, self.source_spec),
                                                    self.savepoint, self.save, not_before, abort)
        if found is None:
            return
        self.snapshot_spec, total, items = found
        self.source = dataclasses.replace(self.source, item_count=items)  # for the progress's ETA
        if total == self.total_segments:
            return
        savepoint = self.savepoint
        if savepoint.started or any(s.last_key for s in savepoint.segments.values()):
            where = self.store.path if self.store else "the savepoint"
            raise SavepointError(f"{where} records {savepoint.total_segments} segments copied in part, but the "
                                 f"snapshot's source now has {total}; move the savepoint away to copy everything again",
                                 self.store.path if self.store else None)
        savepoint.total_segments = self.total_segments = total
        self.segments = [Segment(n, total) for n in range(total)]
        self.save()

    def save(self) -> None:
        if self.store is not None:
            self.store.save(self.savepoint)

    def prepare_target(self) -> None:
        """Create (or drop, rename) the target as planned."""
        backend_for(self.config.target).prepare(self.config, PlannedTarget(self.target, self.target_spec))

    def finish_target(self) -> None:
        """Once every segment is in (an export writes its manifests)."""
        backend_for(self.config.target).finish(self.config, PlannedTarget(self.target, self.target_spec),
                                               self.savepoint)

    def schema_lines(self) -> list[str]:
        """What ``schemaOnly`` did to the target, once :meth:`prepare_target` has run."""
        what = "created" if self.target.action == "create" else "already there, left as it is"
        return [f"schema {self.source.name} -> {self.target.table}: {what} (schemaOnly: nothing copied)"]

    @property
    def copies_snapshot(self) -> bool:
        target = self.config.target
        return not (target.stream_changes and target.skip_initial_snapshot_transfer) and not self.config.schema_only

    def lines(self) -> list[str]:
        """The plan as text, one fact per line."""
        cfg = self.config
        src = self.source
        size_mib = src.size_bytes / (1024 * 1024)
        keys = ", ".join(f"{n} {t}" for n, t in src.key_schema)
        out = [
            f"snapshot {src.name} ({self.source_spec.describe()}) -> {self.writer_spec.describe()}",
            f"  source table : ~{src.item_count:,} items, {size_mib:,.1f} MiB, "
            f"{src.billing_mode + ', ' if src.billing_mode else ''}key [{keys}]",
        ]
        if src.ttl_attribute:
            out.append(f"  TTL          : attribute {src.ttl_attribute}; items already expired are skipped")
        item_filter = getattr(cfg.source, "item_filter", None)
        if item_filter is not None:
            out.append(f"  filter       : {item_filter.expression} (source.filterExpression): only matching items are "
                       "copied" + ("; a change that leaves it deletes the item" if cfg.target.stream_changes else ""))
        done = len(self.skipped_segments)
        how = "from the savepoint" if self.resumed else self.source_backend.segments_line(cfg, self.cores)
        deferred = self.snapshot_spec is None and self.source_backend.deferred_segments(cfg, self.savepoint)
        if deferred:
            out.append(f"  segments     : {deferred}")
        else:
            out.append(f"  segments     : {self.total_segments} ({how}); {done} skipped, {len(self.segments)} to copy")
        out.append(f"  read cap     : {self.read_cap.describe('RCU')}")
        out.append(f"  write cap    : {self.write_cap.describe('WCU')}")
        out.append(f"  writes       : {backend_for(cfg.target).writes_line(cfg)}")
        out.extend(self.target.lines())
        if cfg.renames:
            out.append("  renames      : " + ", ".join(f"{r.from_} -> {r.to}" for r in cfg.renames))
        out.extend(getattr(self.source_backend, "mapping_lines", lambda config, info: [])(cfg, src))
        if self.store is not None:
            state = (f"resuming: {len(self.savepoint.done_segments)} of {self.total_segments} segments done"
                     if self.resumed and not deferred else "resuming" if self.resumed else "new")
            out.append(f"  savepoint    : {self.store.path} ({state}), every "
                       f"{cfg.savepoints.interval_seconds} s")
        else:
            out.append("  savepoint    : none (set savepoints.path to make the copy resumable)")
        out.append(f"  dead letters : {cfg.dead_letter_path or 'none: a refused item stops the job'}")
        if cfg.schema_only:
            out.append("  schema only  : the target is created (keys, indexes, TTL) and nothing is copied")
        elif cfg.target.stream_changes:
            out.extend(self._stream_lines())
        elif not self.copies_snapshot:
            out.append("  snapshot     : skipped (skipInitialSnapshotTransfer)")
        return out

    def _stream_lines(self) -> list[str]:
        cfg, src = self.config, self.source
        if self.stream_problem:
            return [f"  stream       : INCOMPATIBLE: {self.stream_problem}"]
        how = self.source_backend.stream_plan(cfg, src)
        lines = [f"  stream       : {how}; its position is pinned before the snapshot is read"]
        if not self.copies_snapshot:
            lines.append("  snapshot     : skipped (skipInitialSnapshotTransfer): changes only")
        if self.captures:
            lines.append(f"  change log   : capture the stream into {cfg.change_log_location} while the snapshot runs "
                         f"(1 core; the snapshot {self.snapshot_slots} task{'s' if self.snapshot_slots != 1 else ''} at a "
                         "time), apply it after")
        elif self.savepoint.change_log_path and not self.savepoint.change_log_done:
            lines.append(f"  change log   : apply what is left of {self.savepoint.change_log_path}")
        idle = cfg.streaming.stop_when_idle_seconds
        lines.append(f"  replication  : then apply every change, {cfg.streaming.trigger_seconds:g} s micro-batches of up "
                     f"to {cfg.streaming.max_records_per_batch:,} records, checkpoint {cfg.checkpoint_location}, "
                     + (f"stop after {idle:g} s without changes" if idle else "until stopped"))
        return lines


def build_plan(config: MigratorConfig, cores: int, now: float | None = None, slots: int | None = None) -> SnapshotPlan:
    """Describe the source and the target, load the savepoint, decide segments, caps and the target.

    ``slots``: the snapshot tasks this table may run at once, when a migration of many tables shares the
    cores out (the capture's core is then set aside for all of them); else decided from ``cores``.

    Raises
    ------
    SourceError
        The source table does not exist or cannot be described.
    SavepointError
        A savepoint exists but cannot apply (for example, its target was dropped).
    """
    source_backend = source_backend_for(config.source)
    described = source_backend.describe(config)
    source, source_spec = described.info, described.spec
    store = None
    savepoint = None
    if config.savepoints is not None:
        store = SavepointStore(config.savepoints.path, savepoint_name(source.name, config.target_table))
        savepoint = store.load()
    resumed = savepoint is not None
    progressed = savepoint is not None and _wrote_target(config, savepoint)
    renames = config.rename_map
    backend = backend_for(config.target)
    target = backend.plan(config, source, [renames.get(n, n) for n in source.key_names], progressed, now)
    if progressed and target.plan.action == "create":
        raise SavepointError(
            f"savepoint {store.path} records a migration in progress, but the target {config.target_table!r} "
            "does not exist; move the savepoint away to copy everything again",
            store.path,
        )
    if savepoint is None:
        total = source_backend.segment_count(config, described, cores)
        savepoint = SnapshotSavepoint(
            source_table=source.name, target_table=config.target_table, total_segments=total,
            source_endpoint=source_spec.describe(), target_endpoint=target.spec.describe(),
        )
    elif config.source.scan_segments and config.source.scan_segments != savepoint.total_segments:
        log.warning("source.scanSegments is %d but the savepoint %s pinned %d segments; using %d",
                    config.source.scan_segments, store.path, savepoint.total_segments, savepoint.total_segments)
    total = savepoint.total_segments

    skipped = set(savepoint.done_segments)
    if config.skip_segments:
        if total != config.source.scan_segments:
            raise SavepointError(
                f"skipSegments was made for {config.source.scan_segments} segments but this copy uses "
                f"{total} (pinned by {store.path if store else 'the plan'}); they cannot be combined",
                store.path if store else None,
            )
        skipped |= set(config.skip_segments)
    segments = [
        Segment(n, total, savepoint.segments[n].last_key if n in savepoint.segments else None)
        for n in range(total) if n not in skipped
    ]
    captures = _captures(config, savepoint, segments)
    tasks = config.source.max_map_tasks or max(1, min(len(segments), slots or snapshot_slots(cores, captures)))
    read_cap = source_backend.read_cap(config, source, tasks)
    write_cap = backend.write_cap(config, target, tasks)
    return SnapshotPlan(
        config=config, source_spec=source_spec, source=source, target=target.plan, target_spec=target.spec,
        writer_spec=written_through(source_backend, config, target.spec),
        total_segments=total, segments=segments, skipped_segments=skipped, read_cap=read_cap,
        write_cap=write_cap,
        scan_limit=page_limit(read_cap.per_task, write_cap.per_task, source.average_item_bytes),
        cores=cores, savepoint=savepoint, store=store, resumed=resumed,
        now=time.time() if now is None else now,
        stream_problem=(source_backend.stream_problem(source)
                        if config.target.stream_changes and not config.schema_only else None),
        captures=captures, slots=slots,
    )


def _wrote_target(config: MigratorConfig, savepoint: SnapshotSavepoint) -> bool:
    """Whether the migration the savepoint records has written to the target (which must then still exist).

    A stream pinned before a snapshot that copied nothing yet (a run stopped while an export was being
    taken, or before the capture's first batch) has written nothing: the target is created then.
    """
    changes_only = config.target.stream_changes and config.target.skip_initial_snapshot_transfer
    return bool(savepoint.started or savepoint.change_log_applied >= 0 or (savepoint.stream_arn and changes_only))


def snapshot_slots(cores: int, captures: bool) -> int:
    """Snapshot tasks at once: every core, or all but the capture's."""
    return max(1, cores - 1) if captures else max(1, cores)


def _captures(config: MigratorConfig, savepoint: SnapshotSavepoint, segments: list[Segment]) -> bool:
    """Whether the stream is captured into the change log: a snapshot with stream changes still to copy."""
    target = config.target
    copies = not target.skip_initial_snapshot_transfer
    return bool(target.stream_changes and config.streaming.change_log and copies and segments
                and not savepoint.change_log_done and not config.schema_only
                and source_backend_for(config.source).change_log)
