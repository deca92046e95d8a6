"""DynamoDB Streams as a Spark Structured Streaming source: shards, offsets, lineage, reads.

Offsets are per-shard positions, checkpointed by Spark::

    {"stream": "<stream ARN>", "shards": {"shardId-1": {"seq": "000...0042", "done": false}, ...}}

``seq`` is the sequence number of the last record consumed (None: nothing yet, start at
TRIM_HORIZON), ``done`` that a closed shard was read to its end. Sequence numbers are compared as
integers, never as strings.

Finding where a micro-batch ends needs the sequence numbers of the records available now, and
DynamoDB Streams only tells that by reading them. So the driver-side reader *probes* each shard
ahead (GetRecords, up to the admission limit) and keeps the probe's iterator between batches; the
executors then read each planned range again, from the start position to the probed end. Each
shard is read twice in total (two of the two readers a shard supports well); in exchange reads run
on executors, and a replayed batch reads exactly the same records.

Lineage: a child shard is read only once its parent was read to its end in an *earlier* batch, so
the changes of one key never appear in two partitions of one batch (a key lives in one shard at a
time), and partitions can be applied in parallel.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from pyspark.sql.datasource import DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import ReadLimit, ReadMaxRows

from ...clients import ClientSpec, error_code, error_kind
from ...convert import item_to_wire, repair_image
from ...errors import SourceError, StreamTrimmedError
from ...throttle import Backoff, RetryStats, call_with_retries

log = logging.getLogger(__name__)

#: Records per GetRecords call (DynamoDB Streams' maximum).
MAX_GET_RECORDS = 1000
#: GetRecords calls the probe makes per shard and micro-batch (a shard allows about 5 a second,
#: shared with the executors' reads).
PROBE_CALLS_PER_SHARD = 2

SCHEMA = ("event_name STRING, keys STRING, new_image STRING, sequence_number STRING, "
          "shard_id STRING, approximate_creation_time TIMESTAMP")


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    starting_seq: str
    ending_seq: str | None

    @property
    def closed(self) -> bool:
        return self.ending_seq is not None


@dataclass(frozen=True)
class ShardRange(InputPartition):
    """One micro-batch's records of one shard: after ``after_seq`` (None: from the shard's start)
    up to and including ``last_seq``. A plain picklable value, one Spark partition."""

    stream_arn: str
    shard_id: str
    after_seq: str | None
    last_seq: str


def seq(value: str | None) -> int:
    """A sequence number as an integer (-1 for "nothing yet")."""
    return -1 if value is None else int(value)


def list_shards(client: Any, stream_arn: str) -> list[Shard]:
    """Every shard DescribeStream lists, following its pagination."""
    shards: list[Shard] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        try:
            description = client.describe_stream(**kwargs)["StreamDescription"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise StreamTrimmedError(
                    f"stream {stream_arn} no longer exists (disabled, or the table was dropped): changes "
                    "made since the last batch are lost to this migration; enable a stream and run a new "
                    "snapshot (move the savepoint and checkpoint away)") from exc
            raise
        for s in description.get("Shards", []):
            numbers = s.get("SequenceNumberRange", {})
            shards.append(Shard(s["ShardId"], s.get("ParentShardId"), numbers.get("StartingSequenceNumber", "0"),
                                numbers.get("EndingSequenceNumber")))
        last = description.get("LastEvaluatedShardId")
        if not last:
            return shards
        kwargs["ExclusiveStartShardId"] = last


def readable_shards(listing: list[Shard], positions: dict[str, dict]) -> list[Shard]:
    """The shards a batch may read, parents first.

    A shard is readable when it is not finished and its parent is finished in ``positions`` (the
    batch's *start* offset) or no longer listed (expired long ago, or never had one).
    """
    listed = {s.shard_id for s in listing}
    out = []
    for shard in sorted(listing, key=lambda s: seq(s.starting_seq)):
        if positions.get(shard.shard_id, {}).get("done"):
            continue
        parent = shard.parent_id
        if parent and parent in listed and not positions.get(parent, {}).get("done"):
            continue
        out.append(shard)
    return out


def lost_shards(listing: list[Shard], positions: dict[str, dict]) -> list[str]:
    """Shards we started but did not finish that the stream no longer lists: trimmed away."""
    listed = {s.shard_id for s in listing}
    return sorted(sid for sid, p in positions.items() if not p.get("done") and sid not in listed)


def offset(stream_arn: str, positions: dict[str, dict]) -> dict:
    """An offset dict with sorted keys (Spark compares offsets through their JSON)."""
    return {"stream": stream_arn,
            "shards": {sid: {"seq": positions[sid].get("seq"), "done": bool(positions[sid].get("done"))}
                       for sid in sorted(positions)}}


def shard_iterator(client: Any, stream_arn: str, shard_id: str, after_seq: str | None) -> str | None:
    """An iterator just after ``after_seq`` (or at the shard's start)."""
    kwargs = {"StreamArn": stream_arn, "ShardId": shard_id}
    if after_seq is None:
        kwargs["ShardIteratorType"] = "TRIM_HORIZON"
    else:
        kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after_seq)
    try:
        return client.get_shard_iterator(**kwargs).get("ShardIterator")
    except Exception as exc:
        if error_code(exc) == "TrimmedDataAccessException":
            raise StreamTrimmedError(
                f"shard {shard_id} of {stream_arn} no longer holds the records after sequence number "
                f"{after_seq}: the stream's 24-hour retention trimmed changes this migration had not applied "
                "yet, so they are lost; run a new snapshot (move the savepoint and checkpoint away)") from exc
        if error_code(exc) == "ResourceNotFoundException":
            raise StreamTrimmedError(
                f"shard {shard_id} of {stream_arn} is gone before it was read to its end: changes are lost; "
                "run a new snapshot (move the savepoint and checkpoint away)") from exc
        raise


class ShardProbe:
    """Driver side: reads ahead in each shard to find where the next micro-batch ends.

    It keeps one iterator per shard between batches; when Spark asks from another position (after
    a restart), the iterator is rebuilt from that position.
    """

    def __init__(self, client_factory: Callable[[], Any], stream_arn: str,
                 sleep: Callable[[float], None] = time.sleep):
        self.client_factory = client_factory
        self.stream_arn = stream_arn
        self.sleep = sleep
        self._client = None
        self._cursors: dict[str, tuple[str | None, str | None]] = {}

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self.client_factory()
        return self._client

    def advance(self, shard: Shard, after_seq: str | None, budget: int) -> tuple[str | None, bool, int]:
        """Read up to ``budget`` records after ``after_seq``.

        Returns
        -------
        (last_seq, done, count)
            The last record's sequence number (``after_seq`` when none), whether the shard is
            closed and read to its end, and how many records were found.
        """
        position, iterator = self._cursors.get(shard.shard_id, (None, None))
        if iterator is None or position != after_seq:
            iterator = shard_iterator(self.client, self.stream_arn, shard.shard_id, after_seq)
        last, count = after_seq, 0
        for _ in range(PROBE_CALLS_PER_SHARD):
            if iterator is None or count >= budget:
                break
            page = self._get_records(shard, iterator, last, min(MAX_GET_RECORDS, budget - count))
            records = page.get("Records", [])
            iterator = page.get("NextShardIterator")
            if records:
                last = records[-1]["dynamodb"]["SequenceNumber"]
                count += len(records)
            else:
                break  # an open shard with nothing new: look again next batch
        self._cursors[shard.shard_id] = (last, iterator)
        done = iterator is None and count < budget
        return last, done, count

    def _get_records(self, shard: Shard, iterator: str, last: str | None, limit: int) -> dict:
        try:
            return call_with_retries(lambda: self.client.get_records(ShardIterator=iterator, Limit=limit),
                                     error_kind, Backoff(), self.sleep)
        except Exception as exc:
            if error_code(exc) != "ExpiredIteratorException":
                raise
            # Iterators live 15 minutes; a quiet stream outlives them. Renew from where we are.
            fresh = shard_iterator(self.client, self.stream_arn, shard.shard_id, last)
            return self.client.get_records(ShardIterator=fresh, Limit=limit)

    def forget(self, shard_ids: Iterable[str]) -> None:
        for sid in shard_ids:
            self._cursors.pop(sid, None)


def plan_end(probe: ShardProbe, listing: list[Shard], start: dict, max_records: int | None) -> dict:
    """The end offset of the next micro-batch: every readable shard probed, within ``max_records``."""
    positions = {sid: dict(p) for sid, p in start.get("shards", {}).items()}
    lost = lost_shards(listing, positions)
    if lost:
        raise StreamTrimmedError(
            f"shards {', '.join(lost)} of {start['stream']} expired before they were read to their end: the "
            "stream's 24-hour retention trimmed changes this migration had not applied, so they are lost; "
            "run a new snapshot (move the savepoint and checkpoint away)")
    budget = max_records if max_records is not None else 10**12
    readable = readable_shards(listing, positions)
    # An equal share per shard, so that busy shards listed first cannot starve the others.
    share = -(-budget // len(readable)) if readable else 0
    for shard in readable:
        if budget <= 0:
            break
        current = positions.get(shard.shard_id, {"seq": None, "done": False})
        last, done, count = probe.advance(shard, current.get("seq"), min(share, budget))
        budget -= count
        positions[shard.shard_id] = {"seq": last, "done": done}
    listed = {s.shard_id for s in listing}
    finished_and_gone = [sid for sid, p in positions.items() if p.get("done") and sid not in listed]
    for sid in finished_and_gone:
        del positions[sid]  # expired from the stream after we finished it: nothing can bring it back
    probe.forget(finished_and_gone)
    return offset(start["stream"], positions)


def plan_ranges(start: dict, end: dict) -> list[ShardRange]:
    """The partitions of a micro-batch: one per shard that has records between ``start`` and ``end``."""
    ranges = []
    before = start.get("shards", {})
    for sid, position in sorted(end.get("shards", {}).items()):
        after = before.get(sid, {}).get("seq")
        last = position.get("seq")
        if last is not None and seq(last) > seq(after):
            ranges.append(ShardRange(end["stream"], sid, after, last))
    return ranges


def read_range(client: Any, shard_range: ShardRange, sleep: Callable[[float], None] = time.sleep,
               patience: float = 120.0, clock: Callable[[], float] = time.monotonic) -> Iterator[dict]:
    """Every record of ``shard_range``, in order; runs on an executor.

    The probe saw these records, so they are there: empty pages on the way are retried (with a
    deadline), an expired iterator is renewed from the last record returned.
    """
    stats = RetryStats()
    backoff = Backoff()
    end = seq(shard_range.last_seq)
    last = shard_range.after_seq
    iterator = shard_iterator(client, shard_range.stream_arn, shard_range.shard_id, last)
    deadline = clock() + patience
    empty = 0
    while iterator is not None and seq(last) < end:
        try:
            page = call_with_retries(lambda: client.get_records(ShardIterator=iterator, Limit=MAX_GET_RECORDS),
                                     error_kind, backoff, sleep, stats=stats)
        except Exception as exc:
            if error_code(exc) != "ExpiredIteratorException":
                raise
            iterator = shard_iterator(client, shard_range.stream_arn, shard_range.shard_id, last)
            continue
        iterator = page.get("NextShardIterator")
        records = page.get("Records", [])
        for record in records:
            number = record["dynamodb"]["SequenceNumber"]
            if seq(number) > end:
                return
            last = number
            yield record
        if not records:
            empty += 1
            if clock() > deadline:
                raise SourceError(f"shard {shard_range.shard_id}: records up to {shard_range.last_seq} were "
                                  f"seen by the driver but not returned within {patience:.0f} s")
            sleep(backoff.delay(min(empty, 6)))
    if seq(last) < end:
        raise SourceError(f"shard {shard_range.shard_id} ended at {last} before {shard_range.last_seq}, "
                          "which the driver saw: the shard changed under us")


def record_row(record: dict, shard_id: str) -> tuple:
    """A stream record as a row of :data:`SCHEMA`; keys and image as wire-form DynamoDB JSON text."""
    data = record["dynamodb"]
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
        data.get("ApproximateCreationDateTime"),
    )


class DynamoDBStreamReader(DataSourceStreamReader):
    """Spark's view of one stream: offsets and planning on the driver, reads on executors.

    Parameters
    ----------
    stream_arn : str
    spec : ClientSpec
        How to reach the stream; executors build their own client from it.
    max_records : int
        Admission control: records per micro-batch at most (Spark's ``ReadMaxRows``).
    """

    def __init__(self, stream_arn: str, spec: ClientSpec, max_records: int):
        self.stream_arn = stream_arn
        self.spec = spec
        self.max_records = max_records
        self._probe: ShardProbe | None = None

    def __getstate__(self) -> dict:
        # The probe (and its client) is driver state: executors get the plain values only.
        state = dict(self.__dict__)
        state["_probe"] = None
        return state

    def initialOffset(self) -> dict:
        return offset(self.stream_arn, {})

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_records)

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        if start.get("stream") != self.stream_arn:
            raise SourceError(
                f"the checkpoint belongs to stream {start.get('stream')} but the table's stream is now "
                f"{self.stream_arn} (was the stream disabled and enabled again?): changes in between are "
                "lost; run a new snapshot (move the savepoint and checkpoint away)")
        if self._probe is None:
            self._probe = ShardProbe(lambda: self.spec.streams(retries=1), self.stream_arn)
        max_records = limit.max_rows if isinstance(limit, ReadMaxRows) else None
        listing = list_shards(self._probe.client, self.stream_arn)
        return plan_end(self._probe, listing, start, max_records)

    def partitions(self, start: dict, end: dict) -> list[ShardRange]:
        return plan_ranges(start, end)

    def read(self, partition: ShardRange) -> Iterator[tuple]:
        client = self.spec.streams(retries=1)
        for record in read_range(client, partition):
            yield record_row(record, partition.shard_id)

    def commit(self, end: dict) -> None:
        """Nothing to do: DynamoDB Streams keep no consumer state; Spark's checkpoint is the state."""
