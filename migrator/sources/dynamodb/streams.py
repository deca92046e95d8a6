"""DynamoDB Streams as a Spark Structured Streaming source: Spark's reader, wired to the planner
(driver side, :mod:`.planner`) and the shard readers (executors, :mod:`.shard_reader`).

Offsets (:mod:`.offsets`) say where each shard's reading of a batch starts; executors read from
there, in parallel across shards, and record where they stopped (:mod:`.positions`, under
``positions_path``), which the next batch starts from. The driver reads no record. A replayed
batch reads exactly up to the recorded ends, so its records are the ones the first attempt read.

Lineage: a child shard is read only once its parent was read to its end in an *earlier* batch, so
the changes of one key never appear in two partitions of one batch (a key lives in one shard at a
time), and partitions can be applied in parallel.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from dataclasses import dataclass, replace
from typing import Iterator

from pyspark.sql.datasource import DataSourceStreamReader
from pyspark.sql.streaming.datasource import ReadLimit, ReadMaxRows, SupportsTriggerAvailableNow

from ...clients import ClientSpec, shared_client
from ...convert import item_to_wire, repair_image
from ...errors import SourceError
from .offsets import StreamOffset, budgets, group_of, is_legacy, legacy_ranges
from .planner import StreamPlanner
from .positions import PositionsLog
from .shard_reader import ReadSettings, ShardGroup, read_group
from .shards import NEW_SNAPSHOT

SCHEMA = ("event_name STRING, keys STRING, new_image STRING, sequence_number STRING, "
          "shard_id STRING, approximate_creation_time TIMESTAMP")


@dataclass(frozen=True)
class StreamOptions:
    """How the source plans and reads; plain values (see the data source's options).

    Attributes
    ----------
    max_records : int
        Records per micro-batch at most (admission control, Spark's ``ReadMaxRows``).
    positions_path : str
        Where executors record where each batch stopped (local, shared or ``s3://``); one per query,
        kept with its checkpoint.
    parts : int
        Tasks per batch; each reads its shards concurrently (``read.threads``).
    """

    max_records: int
    positions_path: str
    parts: int = 2
    read: ReadSettings = ReadSettings()
    sweep_seconds: float = 300.0
    describe_per_second: float = 5.0
    discover_seconds: float = 10.0


def record_row(record: dict, shard_id: str) -> tuple:
    """A stream record as a row of :data:`SCHEMA`; keys and image as wire-form DynamoDB JSON text.

    ``record`` may come from botocore (binary as bytes, the creation time a ``datetime``) or from
    :mod:`migrator.wire_json` (binary as base64 text, the creation time epoch seconds): the row is the same.
    """
    data = record["dynamodb"]
    created = data.get("ApproximateCreationDateTime")
    if isinstance(created, (int, float)):
        created = datetime.fromtimestamp(created, timezone.utc)
    image = data.get("NewImage")
    name = record.get("eventName")
    if name not in ("INSERT", "MODIFY", "REMOVE"):
        # DynamoDB Local reports TTL deletions with an event name boto3 does not know.
        name = "MODIFY" if image is not None else "REMOVE"
    return (
        name,
        json.dumps(item_to_wire(data["Keys"]), sort_keys=True),
        json.dumps(item_to_wire(repair_image(image)), sort_keys=True) if image is not None else None,
        data["SequenceNumber"],
        shard_id,
        created,
    )


def plan_groups(start: dict, end: dict) -> list[ShardGroup]:
    """The partitions of the batch from ``start`` to ``end``: the shards of ``end``, by task."""
    if start == end:
        return []
    if is_legacy(end):
        ranges = legacy_ranges(start, end)
        return [ShardGroup(end["stream"], -1, i, ((sid, after),), None, ((sid, last),))
                for i, (sid, (after, last)) in enumerate(sorted(ranges.items()))]
    offset = StreamOffset.from_dict(end)
    shares = budgets(list(offset.shards), offset.parts, offset.max_records)
    members: dict[int, list[tuple[str, str]]] = {}
    for sid, position in sorted(offset.shards.items()):
        members.setdefault(group_of(sid, offset.parts), []).append((sid, position))
    return [ShardGroup(offset.stream, offset.batch, index, tuple(shards), shares[index],
                       starts=tuple((sid, *offset.starts[sid]) for sid, _ in shards if sid in offset.starts))
            for index, shards in sorted(members.items())]


class DynamoDBStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    """Spark's view of one stream: offsets and planning on the driver, reads on executors.

    Parameters
    ----------
    stream_arn : str
    spec : ClientSpec
        How to reach the stream; executors build their own client from it.
    options : StreamOptions
    """

    def __init__(self, stream_arn: str, spec: ClientSpec, options: StreamOptions):
        self.stream_arn = stream_arn
        self.spec = spec
        self.options = options
        self.log = PositionsLog(options.positions_path)
        self._planner: StreamPlanner | None = None
        self._available_now = False

    def __getstate__(self) -> dict:
        # The planner (and its client) is driver state: executors get the plain values only.
        state = dict(self.__dict__)
        state["_planner"] = None
        return state

    @property
    def planner(self) -> StreamPlanner:
        if self._planner is None:
            self._planner = StreamPlanner(lambda: self.spec.streams(retries=1), self.stream_arn, self.log,
                                          self.options.parts, self.options.sweep_seconds,
                                          self.options.describe_per_second, self.options.discover_seconds)
        return self._planner

    def initialOffset(self) -> dict:
        return StreamOffset(self.stream_arn, parts=self.options.parts, max_records=self.options.max_records).to_dict()

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.options.max_records)

    def prepareForTriggerAvailableNow(self) -> None:
        """``Trigger.AvailableNow``: batches until every shard is caught up, then the query ends."""
        self._available_now = True

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        if start.get("stream") != self.stream_arn:
            raise SourceError(
                f"the checkpoint belongs to stream {start.get('stream')} but the table's stream is now "
                f"{self.stream_arn} (was the stream disabled and enabled again?): changes in between are "
                f"lost; {NEW_SNAPSHOT}")
        max_records = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        return self.planner.next_offset(start, max_records, self._available_now)

    def partitions(self, start: dict, end: dict) -> list[ShardGroup]:
        return plan_groups(start, end)

    def read(self, partition: ShardGroup) -> Iterator[tuple]:
        # One pooled connection per reader thread; the client outlives the task (see shared_client).
        spec = replace(self.spec, max_connections=max(self.spec.max_connections, self.options.read.threads))
        client = shared_client(spec, "dynamodbstreams")
        for shard_id, record in read_group(client, self.log, partition, self.options.read, time.time, time.sleep):
            yield record_row(record, shard_id)

    def commit(self, end: dict) -> None:
        """DynamoDB Streams keep no consumer state; Spark's checkpoint and the positions files are the
        state. Files of batches before the committed one's predecessor are removed."""
        if not is_legacy(end):
            self.planner.purge(StreamOffset.from_dict(end))
