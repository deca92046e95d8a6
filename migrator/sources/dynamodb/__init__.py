"""DynamoDB as a source: :mod:`.table` describes a table, :mod:`.scan` reads it in segments,
:mod:`.streams` follows its stream. This module only wires the Spark data source.

Usable on its own::

    spark.dataSource.register(DynamoDBStreamsDataSource)
    (spark.readStream.format("dynamodb-streams")
        .option("table", "orders").option("region", "eu-west-1")   # or .option("streamArn", ...)
        .option("positionsPath", "s3://bucket/checkpoints/orders/positions")
        .load())

Options:

- ``streamArn`` or ``table`` (its latest stream); ``region``; ``endpoint`` (a URL: DynamoDB Local,
  Alternator) and ``streamsEndpoint`` (where DynamoDB Streams calls go, when not to ``endpoint``).
- ``positionsPath`` (required): a directory that survives restarts, one per query (keep it beside
  the query's checkpoint, and move both away together): executors record there where each batch
  stopped in each shard. Local or shared paths and ``s3://`` URLs.
- ``maxRecordsPerTrigger`` (10000): records per micro-batch at most.
- ``readPartitions`` (2): tasks per micro-batch, each reading many shards; about one per core.
- ``readerThreads`` (16): shards a task reads at once. ``readSeconds`` (1.0): a task starts no new
  GetRecords call after this long. ``getRecordsPerSecond`` (5): calls per shard and second at most.
  ``botocoreReads`` (false): ``true`` sends GetRecords through the plain botocore client instead of
  the wire-JSON path of :mod:`migrator.wire_json` (same requests and errors, twice the CPU).
- ``pinnedAt``: when the stream's position was pinned (epoch seconds), for a query that must apply
  every change made since (the migrator's snapshot, then replication). The first batch then proves,
  shard by shard, that the stream still holds every record since that moment (nothing trimmed from
  a shard's start before it, and no expired parent), or fails with ``StreamTrimmedError``. Without
  it, shards of the first listing are read from their oldest remaining record.
- ``sweepSeconds`` (300): how often the whole shard listing is checked; ``discoverSeconds`` (10): how
  often new shards are looked for when none finished meanwhile (after a shard was read to its end,
  its children are looked for every batch); ``describeStreamPerSecond`` (5): the pace of
  DescribeStream calls.

Every trigger runs a batch that polls every open shard once (nothing is read on the driver, so only
a read can tell whether a shard has something new): ``processAllAvailable()`` therefore never
returns on a live stream; use ``trigger(availableNow=True)`` to read what is there and stop.

Credentials come from the default AWS chain; the migrator job passes its configured credentials in
a subclass instead (:func:`with_client_spec`), so that no secret ever sits in the query's options,
where the Spark UI would show it.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql.datasource import DataSource

from ...clients import ClientSpec
from ...errors import SourceError
from .positions import positions_path, read_stats
from .shard_reader import ReadSettings
from .streams import SCHEMA, DynamoDBStreamReader, StreamOptions

__all__ = ["DynamoDBStreamsDataSource", "positions_path", "read_stats", "with_client_spec"]

DEFAULT_MAX_RECORDS = 10_000


class DynamoDBStreamsDataSource(DataSource):
    """The ``dynamodb-streams`` streaming source: one row per stream record (see ``SCHEMA``)."""

    client_spec: ClientSpec | None = None

    @classmethod
    def name(cls) -> str:
        return "dynamodb-streams"

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> DynamoDBStreamReader:
        options = {k.lower(): v for k, v in self.options.items()}
        spec = self.client_spec or ClientSpec(endpoint_url=options.get("endpoint"), region=options.get("region"),
                                              streams_endpoint_url=options.get("streamsendpoint"))
        positions = options.get("positionspath")
        if not positions:
            raise SourceError("dynamodb-streams needs the option positionsPath: a directory that survives "
                              "restarts, beside the query's checkpoint, where executors record where each "
                              "batch stopped")
        read = ReadSettings(threads=int(_number(options, "readerThreads", 16, whole=True)),
                            seconds=_number(options, "readSeconds", 1.0),
                            calls_per_second=_number(options, "getRecordsPerSecond", 5.0),
                            raw=options.get("botocorereads", "false").lower() != "true",
                            pinned_at=_number(options, "pinnedAt", 0.0) or None)
        stream_options = StreamOptions(
            max_records=int(_number(options, "maxRecordsPerTrigger", DEFAULT_MAX_RECORDS, whole=True)),
            positions_path=positions, parts=int(_number(options, "readPartitions", 2, whole=True)), read=read,
            sweep_seconds=_number(options, "sweepSeconds", 300.0),
            describe_per_second=_number(options, "describeStreamPerSecond", 5.0),
            discover_seconds=_number(options, "discoverSeconds", 10.0))
        arn = options.get("streamarn")
        if not arn:
            table = options.get("table")
            if not table:
                raise SourceError("dynamodb-streams needs the option streamArn or table")
            described = spec.dynamodb().describe_table(TableName=table)["Table"]
            arn = described.get("LatestStreamArn")
            if not arn or not described.get("StreamSpecification", {}).get("StreamEnabled"):
                raise SourceError(f"table {table!r} has no enabled stream; enable one (NEW_IMAGE)", table)
        return DynamoDBStreamReader(arn, spec, stream_options)


def _number(options: dict[str, str], name: str, default: float, whole: bool = False) -> float:
    """A positive option value; the error names the option and what it must be."""
    raw = options.get(name.lower())
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
        if value <= 0:
            raise ValueError
    except ValueError:
        kind = "a positive integer" if whole else "a positive number"
        raise SourceError(f"option {name}: got {raw!r}; must be {kind}") from None
    return value


def with_client_spec(spec: ClientSpec) -> type[DynamoDBStreamsDataSource]:
    """A subclass of the source bound to ``spec``; Spark pickles it (secrets included) with the
    class, never into options or plans."""
    return type("ConfiguredDynamoDBStreamsDataSource", (DynamoDBStreamsDataSource,), {"client_spec": spec})
