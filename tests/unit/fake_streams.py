"""A DynamoDB Streams client double for unit tests: shards as lists of records, stateless iterators.

Iterators are ``"shard:index"`` strings (the index of the next record), so a test can reuse one and
get the same records, as with the real service. Shards are listed two per DescribeStream page.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from botocore.exceptions import ClientError

ARN = "arn:aws:dynamodb:local:0:table/t/stream/1"


def error(code):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": 400}}, "Op")


def record(number, key, event="MODIFY", value=None, minute=0):
    data = {"SequenceNumber": f"{number:021d}", "Keys": {"pk": {"S": key}},
            "ApproximateCreationDateTime": datetime(2026, 1, 1, 0, minute, tzinfo=timezone.utc)}
    if event != "REMOVE":
        data["NewImage"] = {"pk": {"S": key}, "v": {"N": str(value if value is not None else number)}}
    return {"eventName": event, "dynamodb": data}


class FakeStreams:
    """Shards (id → records) with optional parents; a shard is open unless listed in ``closed``.

    ``throttle_every``: every n-th GetRecords answers LimitExceededException (``throttle_iterators``:
    every other GetShardIterator too). ``expire_once``:
    iterators refused once as expired. ``trimmed``: shards whose positions are all trimmed.
    ``first_seq``: a shard's first sequence number as listed, when records before the first one
    given were trimmed (an iterator at a trimmed number is refused). ``counter_starts``: shards whose
    listed first number is no record of theirs, as DynamoDB Local lists a new shard at its instance-wide
    counter: GetShardIterator grants an iterator there, and GetRecords refuses it as trimmed.
    """

    def __init__(self, shards, parents=None, closed=(), page=3, expire_once=(), trimmed=(), throttle_every=0,
                 throttle_iterators=False, first_seq=None, counter_starts=()):
        self.first_seq = dict(first_seq or {})
        self.counter_starts = set(counter_starts)
        self.shards = {sid: list(records) for sid, records in shards.items()}
        self.parents = parents or {}
        self.closed = set(closed)
        self.page = page
        self.expire_once = set(expire_once)
        self.trimmed = set(trimmed)
        self.throttle_every = throttle_every
        self.throttle_iterators = throttle_iterators
        self.calls = {"get_records": 0, "describe_stream": 0, "get_shard_iterator": 0, "throttled": 0}
        self.get_records_by_shard: dict[str, int] = {}
        self.describe_args: list[dict] = []
        self.lock = threading.Lock()

    def describe_stream(self, StreamArn, ExclusiveStartShardId=None, **kwargs):
        with self.lock:
            self.calls["describe_stream"] += 1
            self.describe_args.append({"ExclusiveStartShardId": ExclusiveStartShardId})
        ids = sorted(self.shards)
        if ExclusiveStartShardId:
            ids = [i for i in ids if i > ExclusiveStartShardId]
        page, rest = ids[:2], ids[2:]
        shards = []
        for sid in page:
            records = self.shards[sid]
            first = records[0]["dynamodb"]["SequenceNumber"] if records else "0"
            rng = {"StartingSequenceNumber": self.first_seq.get(sid, first)}
            if sid in self.closed:
                rng["EndingSequenceNumber"] = records[-1]["dynamodb"]["SequenceNumber"] if records else "0"
            entry = {"ShardId": sid, "SequenceNumberRange": rng}
            if sid in self.parents:
                entry["ParentShardId"] = self.parents[sid]
            shards.append(entry)
        out = {"StreamDescription": {"Shards": shards}}
        if rest:
            out["StreamDescription"]["LastEvaluatedShardId"] = page[-1]
        return out

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        with self.lock:
            self.calls["get_shard_iterator"] += 1
            if self.throttle_iterators and self.calls["get_shard_iterator"] % 2:
                self.calls["throttled"] += 1
                raise error("LimitExceededException")
        if ShardId in self.trimmed:
            raise error("TrimmedDataAccessException")
        if ShardId not in self.shards:
            raise error("ResourceNotFoundException")
        records = self.shards[ShardId]
        if ShardIteratorType == "TRIM_HORIZON":
            index = 0
        elif ShardIteratorType == "AT_SEQUENCE_NUMBER":
            if ShardId in self.counter_starts and SequenceNumber == self.first_seq.get(ShardId):
                return {"ShardIterator": f"{ShardId}:counter"}
            if ShardId in self.first_seq and (not records or int(SequenceNumber) < int(
                    records[0]["dynamodb"]["SequenceNumber"])):
                raise error("TrimmedDataAccessException")
            index = next((i for i, r in enumerate(records) if int(r["dynamodb"]["SequenceNumber"]) >= int(SequenceNumber)),
                         len(records))
        else:
            index = next(i + 1 for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": f"{ShardId}:{index}"}

    def get_records(self, ShardIterator, Limit=1000):
        with self.lock:
            self.calls["get_records"] += 1
            if self.throttle_every and self.calls["get_records"] % self.throttle_every == 0:
                self.calls["throttled"] += 1
                raise error("LimitExceededException")
            if ShardIterator in self.expire_once:
                self.expire_once.discard(ShardIterator)
                raise error("ExpiredIteratorException")
            if ShardIterator.endswith(":counter"):
                raise error("TrimmedDataAccessException")
            sid, index = ShardIterator.rsplit(":", 1)
            self.get_records_by_shard[sid] = self.get_records_by_shard.get(sid, 0) + 1
        index = int(index)
        records = self.shards[sid][index:index + min(Limit, self.page)]
        end = index + len(records)
        done = end >= len(self.shards[sid]) and sid in self.closed
        return {"Records": records, "NextShardIterator": None if done else f"{sid}:{end}"}


class FakeClock:
    """Wall time that only moves when someone sleeps (or calls :meth:`advance`)."""

    def __init__(self, now=1_800_000_000.0):
        self.now = now
        self.slept: list[float] = []
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.now

    def sleep(self, seconds):
        with self.lock:
            self.slept.append(seconds)
            self.now += max(0.0, seconds)

    def advance(self, seconds):
        self.sleep(seconds)
