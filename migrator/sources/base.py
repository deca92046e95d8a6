"""What every source backend offers the jobs: describe, read in segments, read whole, fetch by key, follow.

A backend has two halves, as a target's does. The driver half (:class:`SourceBackend`, one per folder
under ``sources/``) describes the source as a :class:`~migrator.tables.TableInfo`, decides its snapshot
segments and read cap and, when it has one, pins and opens its change stream. The executor half (its
:class:`SourceSpec`, a picklable value the plan hands to tasks) reads a segment page by page from a
savepoint's position, reads read partitions for the validator and fetches items by key; clients are
built inside it, where it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from ..tables import TableInfo
from ..throttle import ThroughputCap


@dataclass(frozen=True)
class Segment:
    """One snapshot segment (a Spark task's share of the source), and where to resume it.

    Attributes
    ----------
    start_key : dict or None
        The position recorded by the savepoint, in the backend's own JSON terms (a Scan's
        ``ExclusiveStartKey`` in wire form, the lines of a data file already read); None starts
        the segment from its beginning.
    """

    segment: int
    total_segments: int
    start_key: dict | None = None


class SourceSpec(Protocol):
    """How executors reach and read the source; picklable, holds no client."""

    def describe(self) -> str: ...

    #: Whether :meth:`fetch` works (an export cannot be read by key: the validator names no attribute then).
    fetches_by_key: bool

    def pages(self, segment: Segment, limit: int | None, limiter: Any,
              stats: Any) -> Iterator[tuple[list[dict], dict | None, int]]:
        """The items of ``segment`` from its ``start_key``, page by page (raw DynamoDB JSON), each with the
        position to resume after it (JSON-able, for the savepoint; None after the last page) and how many
        items the source examined for it (more than the page holds under ``source.filterExpression``).
        ``limit`` is items per page at most, ``limiter`` the task's read cap, ``stats`` counts retried calls."""

    def read(self, partition: Any) -> Iterator[dict]:
        """Every item of one read partition (see :meth:`SourceBackend.read_partitions`) that matches the
        source's filter, as DynamoDB JSON."""

    def fetch(self, keys: list[dict]) -> list[dict]:
        """The items stored under ``keys`` that match the source's filter; missing keys are left out."""


@dataclass
class PlannedSource:
    """A source described: ``info`` for the plan and the target, ``spec`` for the tasks."""

    info: TableInfo
    spec: Any                        # SourceSpec


class SourceBackend(Protocol):
    """The driver half of a source backend."""

    #: Whether the source has a change stream to replicate (``target.streamChanges``).
    streams: bool

    def describe(self, config: Any, max_connections: int = 10) -> PlannedSource:
        """Describe the source; raises :class:`~migrator.errors.SourceError` when it is missing."""

    def list_tables(self, config: Any) -> list[str]:
        """The names of the source's tables, for a configuration of many (``tables``); a source that holds
        one table has no such method (the configuration refuses ``tables`` for it)."""

    def permissions(self, config: Any) -> list[Any]:
        """The IAM permissions (:class:`~migrator.permissions.Permission`) the job needs of the source."""

    def preflight(self, config: Any) -> list[Any]:
        """Harmless probes of the source for ``migrator check`` (:class:`~migrator.preflight.Finding`)."""

    def segment_count(self, config: Any, described: PlannedSource, cores: int) -> int:
        """How many snapshot segments a new copy uses."""

    def segments_line(self, config: Any, cores: int) -> str:
        """How that count was chosen, for the plan."""

    def read_cap(self, config: Any, info: TableInfo, tasks: int) -> ThroughputCap:
        """The read rate of the whole job and of each of its ``tasks``."""

    def read_partitions(self, config: Any, described: PlannedSource, cores: int) -> list[Any]:
        """The source's read partitions for the validator."""

    def deferred_segments(self, config: Any, savepoint: Any) -> str | None:
        """Why the snapshot's segments are not known yet (they come from an export still to be taken), for
        the plan; None when :meth:`segment_count` decided them."""

    def snapshot_source(self, config: Any, described: PlannedSource, savepoint: Any, save: Callable[[], None],
                        not_before: float | None, abort: Any = None) -> tuple[Any, int, int] | None:
        """Where the snapshot reads from when not from ``described.spec``: ``(SourceSpec, segments, items)``,
        after preparing it (taking an export at ``not_before`` or later, recorded in ``savepoint``). None:
        from ``described.spec``, in :meth:`segment_count` segments."""


class StreamSource(SourceBackend, Protocol):
    """A source backend with a change stream (``streams`` is true): what the migration pins and follows."""

    #: Whether the stream may be captured into the change log while the snapshot runs (streaming.changeLog).
    change_log: bool
    #: How long the stream keeps a change (replication from the pin must start within it); None: the reader
    #: itself detects a position the stream no longer holds.
    retention_seconds: float | None
    #: What the pin means, for the log line that records it.
    pin_note: str
    #: How replication reads the keys and images of the stream's rows (see :class:`~migrator.changes.WireJson`);
    #: None: DynamoDB JSON.
    changes: Any

    def stream_problem(self, info: TableInfo) -> str | None:
        """Why the source's stream cannot serve replication (wrong view type...); None when it can."""

    def stream_plan(self, config: Any, info: TableInfo) -> str:
        """What the job will do to the stream, for the plan."""

    def stream_lost(self, info: TableInfo, pinned: str) -> str | None:
        """Why the stream a savepoint pinned (``pinned``) can no longer serve this migration; None when it can."""

    def stream_state(self, config: Any, spec: Any) -> TableInfo:
        """The source described again, with its stream as it is now."""

    def enable_stream(self, spec: Any, info: TableInfo, view_type: str) -> str:
        """Enable the source's stream, wait until it is on; its ARN."""

    def open_stream(self, spark: Any, spec: Any, stream_arn: str, checkpoint: str, trigger_seconds: float,
                    max_records: int, read_partitions: int, pinned_at: float | None = None) -> Any:
        """The streaming DataFrame of the stream, for a query checkpointed in ``checkpoint``."""

    def read_stats(self, checkpoint: str) -> Callable[[int], Any]:
        """What the stream's read tasks did in a batch, by batch id (shards read, records...)."""
