"""DynamoDB (and Alternator) as a source backend: a table described, scanned in segments, followed by its stream."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ...clients import ClientSpec, shared_client
from ...conditions import ItemFilter
from ...convert import item_to_wire
from ...errors import SourceError
from ...tables import TableInfo
from ...throttle import DEFAULT_READ_PERCENT, ThroughputCap, throughput_cap
from ..base import PlannedSource, Segment
from .scan import batch_get, plan_segment_count, scan_pages, scan_segments_concurrently, segment_groups
from .table import describe_table, enable_stream, stream_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DynamoDBSourceSpec:
    """A table to scan and fetch from; picklable (clients are built in each call, on the executor)."""

    client_spec: ClientSpec
    table: str
    request_capacity: bool = True    # ask Scan for its consumed capacity (not with removeConsumedCapacity)
    item_filter: ItemFilter | None = None   # source.filterExpression: Scan returns the matching items only
    fetches_by_key = True

    def describe(self) -> str:
        return self.client_spec.describe()

    def pages(self, segment: Segment, limit: int | None, limiter: Any, stats: Any) -> Iterator[tuple[list, Any, int]]:
        client = shared_client(self.client_spec, "dynamodb")  # built once per Python worker (0.1 s of CPU)
        for page in scan_pages(client, self.table, segment, limit=limit, limiter=limiter, stats=stats,
                               request_capacity=self.request_capacity, filter_params=self._filter_params):
            yield page.items, item_to_wire(page.last_key) if page.last_key is not None else None, page.scanned

    def read(self, partition: list[Segment]) -> Iterator[dict[str, Any]]:
        """Every item of a group of segments (see :func:`segment_groups`), scanned at once."""
        return scan_segments_concurrently(shared_client(self.client_spec, "dynamodb"), self.table, partition,
                                          filter_params=self._filter_params)

    def fetch(self, keys: list[dict]) -> list[dict]:
        found = batch_get(shared_client(self.client_spec, "dynamodb", retries=10), self.table, keys)
        return [item for item in found if self.item_filter.matches(item)] if self.item_filter else found

    @property
    def _filter_params(self) -> dict[str, Any] | None:
        return self.item_filter.scan_parameters() if self.item_filter else None


class DynamoDBSource:
    """The driver half: DescribeTable, Scan segments, the read cap, the table's DynamoDB Stream."""

    streams = True
    #: The stream may be captured into the change log while the snapshot runs (streaming.changeLog).
    change_log = True
    #: DynamoDB Streams keep a record 24 hours: replication from the pin must start within that.
    retention_seconds = 24 * 3600
    pin_note = "replication will start from its oldest record"
    #: Rows of ``dynamodb-streams`` hold DynamoDB JSON: replication reads them as it does by default.
    changes = None

    def describe(self, config: Any, max_connections: int = 10) -> PlannedSource:
        source = config.source
        client_spec = ClientSpec.from_config(source, max_connections)
        info = describe_table(client_spec.dynamodb(), source.table, client_spec.describe())
        if info is None:
            raise SourceError(f"source table {source.table!r} not found at {client_spec.describe()}; "
                              "check source.table, source.region and source.endpoint", source.table)
        return PlannedSource(info, DynamoDBSourceSpec(client_spec, info.name,
                                                      source.remove_consumed_capacity is not True, source.item_filter))

    def list_tables(self, config: Any) -> list[str]:
        """The names of the source's tables (ListTables, every page), for a ``tables`` section."""
        client_spec = ClientSpec.from_config(config.source)
        client = client_spec.dynamodb()
        names: list[str] = []
        params: dict[str, Any] = {}
        try:
            while True:
                page = client.list_tables(**params)
                names += page.get("TableNames", [])
                if not page.get("LastEvaluatedTableName"):
                    return names
                params["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
        except Exception as exc:  # noqa: BLE001 - botocore's errors, named with the setting to fix
            raise SourceError(f"tables: cannot list the source's tables at {client_spec.describe()} ({exc}); check "
                              "source.region, source.endpoint and source.credentials (dynamodb:ListTables)") from exc

    def permissions(self, config: Any) -> list[Any]:
        from .preflight import permissions

        return permissions(config)

    def preflight(self, config: Any) -> list[Any]:
        from .preflight import preflight

        return preflight(config)

    def segment_count(self, config: Any, described: PlannedSource, cores: int) -> int:
        return plan_segment_count(described.info.size_bytes, cores, config.source.scan_segments)

    def segments_line(self, config: Any, cores: int) -> str:
        if config.source.scan_segments:
            return "source.scanSegments"
        return f"one per 100 MiB, at least one per core; {cores} cores"

    def read_cap(self, config: Any, info: TableInfo, tasks: int) -> ThroughputCap:
        source = config.source
        if source.export_snapshot is not None:
            return ThroughputCap(None, None, "none: the snapshot reads an export, not the table")
        return throughput_cap(source.read_throughput, info.read_capacity, source.throughput_read_percent,
                              DEFAULT_READ_PERCENT, tasks)

    def read_partitions(self, config: Any, described: PlannedSource, cores: int) -> list[list[Segment]]:
        return segment_groups(described.info.size_bytes, cores, config.source.scan_segments)

    def deferred_segments(self, config: Any, savepoint: Any) -> str | None:
        settings = config.source.export_snapshot
        if settings is None or savepoint.export_manifest:
            return None
        where = f"s3://{settings.bucket}/{settings.prefix or ''}"
        how = "an export in progress" if savepoint.export_arn else "an export taken once the stream is pinned"
        return (f"one per data file of {how} (ExportTableToPointInTime into {where}; point-in-time recovery "
                "enabled if off; no read capacity used)")

    def snapshot_source(self, config: Any, described: PlannedSource, savepoint: Any, save: Callable[[], None],
                        not_before: float | None, abort: Any = None) -> tuple[Any, int, int] | None:
        settings = config.source.export_snapshot
        if settings is None:
            return None
        from ..dynamodb_export.backend import read_export
        from .export_snapshot import SETTING, export_files, take_export

        spec = described.spec
        manifest = take_export(spec.client_spec.dynamodb(), spec.table, settings, savepoint, save, not_before, abort)
        files, name = export_files(settings, spec.client_spec, manifest)
        summary, export = read_export(files, name, manifest, SETTING, spec.item_filter)
        return export, max(1, len(export.data_files)), int(summary.get("itemCount") or described.info.item_count)

    def stream_problem(self, info: TableInfo) -> str | None:
        return stream_problem(info)

    def stream_plan(self, config: Any, info: TableInfo) -> str:
        if info.stream_arn:
            return f"use the existing {info.stream_view_type} stream {info.stream_arn}"
        return f"enable a {config.streaming.view_type} stream on {info.name} and wait until it is ENABLED"

    def stream_lost(self, info: TableInfo, pinned: str) -> str | None:
        if info.stream_arn == pinned:
            return None
        return (f"the savepoint pinned stream {pinned}, but {info.name!r} now has {info.stream_arn or 'no stream'}: "
                "changes made while it was off are lost to this migration; move the savepoint and checkpoint away to "
                "start over with a new snapshot")

    def stream_state(self, config: Any, spec: DynamoDBSourceSpec) -> TableInfo:
        info = describe_table(spec.client_spec.dynamodb(), spec.table, spec.describe())
        if info is None:
            raise SourceError(f"source table {spec.table!r} disappeared", spec.table)
        return info

    def enable_stream(self, spec: DynamoDBSourceSpec, info: TableInfo, view_type: str) -> str:
        log.info("enabling a %s stream on %s", view_type, info.name)
        return enable_stream(spec.client_spec.dynamodb(), spec.client_spec.streams(), info.name, view_type)

    def open_stream(self, spark: Any, spec: DynamoDBSourceSpec, stream_arn: str, checkpoint: str,
                    trigger_seconds: float, max_records: int, read_partitions: int,
                    pinned_at: float | None = None) -> Any:
        from . import positions_path, with_client_spec

        spark.dataSource.register(with_client_spec(spec.client_spec))
        # A task may read as long as a trigger lasts: a shard with a backlog keeps its pace meanwhile.
        stream = (spark.readStream.format("dynamodb-streams").option("streamArn", stream_arn)
                  .option("maxRecordsPerTrigger", str(max_records))
                  .option("positionsPath", positions_path(checkpoint))
                  .option("readPartitions", str(read_partitions))
                  .option("readSeconds", str(max(1.0, trigger_seconds))))
        if pinned_at:
            stream = stream.option("pinnedAt", repr(pinned_at))
        return stream.load()

    def read_stats(self, checkpoint: str) -> Callable[[int], Any]:
        import functools

        from .positions import positions_path, read_stats

        return functools.partial(read_stats, positions_path(checkpoint))


BACKEND = DynamoDBSource()
