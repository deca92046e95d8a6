"""The multi-shard DynamoDB Streams simulator (devtools/streamsim) as boto3 sees it.

Each test starts its own simulator (a Go binary: milliseconds) and proves one behaviour of real
DynamoDB Streams that DynamoDB Local lacks: shard pages, iterator types, closed shards and
lineage, routing by key hash across splits, the GetRecords and DescribeStream limits, retention,
expiring iterators, the generator's ground truth, and front mode over a DynamoDB Local table.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter, defaultdict
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devtools.stream_simulator import StreamSimulator
from tests.conftest import eventually


@pytest.fixture
def simulator():
    """Starts simulators with the given options; stops them all after the test."""
    started: list[StreamSimulator] = []

    def start(**options: Any) -> StreamSimulator:
        sim = StreamSimulator(**options).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def refused(call, *args: Any, **kwargs: Any) -> str:
    """The error code ``call`` answers with (the test fails if it succeeds)."""
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    return error_code(info.value)


def key_hash(value: str, kind: str = "S") -> int:
    return int.from_bytes(hashlib.md5(f"{kind}:{value}".encode()).digest()[:8], "big")


def list_shards(client, arn: str, **kwargs: Any) -> list[dict]:
    """Every listed shard, page by page."""
    shards, start = [], None
    while True:
        extra = {"ExclusiveStartShardId": start} if start else {}
        page = client.describe_stream(StreamArn=arn, **kwargs, **extra)["StreamDescription"]
        shards += page["Shards"]
        start = page.get("LastEvaluatedShardId")
        if not start:
            return shards


def read_shard(client, arn: str, shard_id: str) -> tuple[list[dict], bool]:
    """All records of a shard from TRIM_HORIZON: to its end if closed, else to the first empty page."""
    iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    records: list[dict] = []
    while True:
        page = client.get_records(ShardIterator=iterator)
        records += page["Records"]
        if "NextShardIterator" not in page:
            return records, True
        if not page["Records"]:
            return records, False
        iterator = page["NextShardIterator"]


def lineage(shards: list[dict]) -> list[dict]:
    """The shards with every parent before its children (creation order, checked)."""
    ordered = sorted(shards, key=lambda s: s["ShardId"])
    position = {s["ShardId"]: i for i, s in enumerate(ordered)}
    for i, shard in enumerate(ordered):
        parent = shard.get("ParentShardId")
        assert parent is None or position.get(parent, -1) < i, shard
    return ordered


def read_stream(client, arn: str) -> list[tuple[dict, dict]]:
    """(shard, record) for every record of every listed shard, in lineage order."""
    out = []
    for shard in lineage(list_shards(client, arn)):
        records, _ = read_shard(client, arn, shard["ShardId"])
        out += [(shard, r) for r in records]
    return out


def seq(record: dict) -> int:
    return int(record["dynamodb"]["SequenceNumber"])


def check_one_shard_at_a_time(pairs: list[tuple[dict, dict]], sim: StreamSimulator, arn: str | None,
                              attr: str = "pk") -> None:
    """Every key's changes sit in the shard owning its hash, one shard at a time along the lineage."""
    info = {s["ShardId"]: s for s in sim.shards(arn)}
    by_key: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for shard, record in pairs:
        value = record["dynamodb"]["Keys"][attr]["S"]
        owner = info[shard["ShardId"]]
        assert owner["HashRangeLow"] <= key_hash(value) <= owner["HashRangeHigh"], (value, owner)
        by_key[value].append((seq(record), shard["ShardId"]))
    moved = 0
    for value, changes in by_key.items():
        changes.sort()
        visited = [changes[0][1]]
        for _, shard_id in changes[1:]:
            if shard_id == visited[-1]:
                continue
            ancestor = info[shard_id].get("ParentShardId")
            while ancestor and ancestor != visited[-1]:
                ancestor = info[ancestor].get("ParentShardId")
            assert ancestor == visited[-1], f"{value} moved from {visited[-1]} to {shard_id}, not a descendant"
            assert shard_id not in visited, f"{value} came back to {shard_id}"
            visited.append(shard_id)
            moved += 1
    assert moved > 0, "no key crossed a split: the test proves nothing"


def test_describe_stream_pages_by_exclusive_start_and_last_evaluated(simulator):
    sim = simulator(table="pages", shards=5, page_size=2, describe_rate=0)
    client, arn = sim.client(), sim.stream_arn()

    first = client.describe_stream(StreamArn=arn)["StreamDescription"]
    assert len(first["Shards"]) == 2
    assert first["LastEvaluatedShardId"] == first["Shards"][-1]["ShardId"]
    assert first["StreamStatus"] == "ENABLED" and first["TableName"] == "pages"
    assert first["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    second = client.describe_stream(StreamArn=arn, ExclusiveStartShardId=first["LastEvaluatedShardId"])
    second = second["StreamDescription"]
    assert len(second["Shards"]) == 2 and second["LastEvaluatedShardId"] == second["Shards"][-1]["ShardId"]
    third = client.describe_stream(StreamArn=arn, ExclusiveStartShardId=second["LastEvaluatedShardId"])
    third = third["StreamDescription"]
    assert len(third["Shards"]) == 1 and "LastEvaluatedShardId" not in third
    ids = [s["ShardId"] for s in first["Shards"] + second["Shards"] + third["Shards"]]
    assert ids == sorted(ids) == [s["ShardId"] for s in sim.shards()]
    assert len(client.describe_stream(StreamArn=arn, Limit=1)["StreamDescription"]["Shards"]) == 1
    assert len(client.describe_stream(StreamArn=arn, Limit=3)["StreamDescription"]["Shards"]) == 2  # page size

    sim.generate(50)
    splits = sim.split(count=2)
    shards = list_shards(client, arn)
    assert len(shards) == 9 and [s["ShardId"] for s in shards] == sorted(s["ShardId"] for s in shards)
    by_id = {s["ShardId"]: s for s in shards}
    for split in splits:
        parent = by_id[split["parent"]]
        assert "EndingSequenceNumber" in parent["SequenceNumberRange"]
        for child in split["children"]:
            assert by_id[child]["ParentShardId"] == split["parent"]
            assert "EndingSequenceNumber" not in by_id[child]["SequenceNumberRange"]
    assert sum("EndingSequenceNumber" in s["SequenceNumberRange"] for s in shards) == 2


def test_all_four_iterator_types(simulator):
    sim = simulator(table="iterators", shards=1, get_records_rate=0)
    client, arn = sim.client(), sim.stream_arn()
    sim.generate(20)
    (shard,) = list_shards(client, arn)
    sid = shard["ShardId"]

    def records(kind: str, number: str | None = None, limit: int = 1000) -> dict:
        extra = {"SequenceNumber": number} if number else {}
        it = client.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType=kind, **extra)["ShardIterator"]
        return client.get_records(ShardIterator=it, Limit=limit)

    horizon = records("TRIM_HORIZON")
    seqs = [r["dynamodb"]["SequenceNumber"] for r in horizon["Records"]]
    assert len(seqs) == 20 and [int(s) for s in seqs] == sorted(int(s) for s in seqs)
    assert all(len(s) == 21 for s in seqs)
    assert "NextShardIterator" in horizon  # an open shard always gives one
    first = horizon["Records"][0]
    assert first["eventSource"] == "aws:dynamodb" and first["eventVersion"] == "1.1"
    assert first["dynamodb"]["StreamViewType"] == "NEW_IMAGE" and first["dynamodb"]["SizeBytes"] > 0
    assert any(r["dynamodb"]["ApproximateCreationDateTime"].microsecond for r in horizon["Records"])

    at = records("AT_SEQUENCE_NUMBER", seqs[5])["Records"]
    assert [r["dynamodb"]["SequenceNumber"] for r in at] == seqs[5:]
    after = records("AFTER_SEQUENCE_NUMBER", seqs[5])["Records"]
    assert [r["dynamodb"]["SequenceNumber"] for r in after] == seqs[6:]

    paged = records("TRIM_HORIZON", limit=7)
    assert [r["dynamodb"]["SequenceNumber"] for r in paged["Records"]] == seqs[:7]
    again = client.get_records(ShardIterator=paged["NextShardIterator"])  # a token can be used twice
    assert client.get_records(ShardIterator=paged["NextShardIterator"])["Records"] == again["Records"]
    assert [r["dynamodb"]["SequenceNumber"] for r in again["Records"]] == seqs[7:]

    latest = client.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType="LATEST")["ShardIterator"]
    empty = client.get_records(ShardIterator=latest)
    assert empty["Records"] == [] and "NextShardIterator" in empty
    sim.generate(3)
    new = client.get_records(ShardIterator=latest)["Records"]
    assert len(new) == 3 and seq(new[0]) > int(seqs[-1])

    assert refused(client.get_shard_iterator, StreamArn=arn, ShardId=sid,
                   ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber="x" * 21) == "ValidationException"
    assert refused(client.get_shard_iterator, StreamArn=arn, ShardId="shardId-00000000000000000099-deadbeef",
                   ShardIteratorType="LATEST") == "ResourceNotFoundException"
    assert refused(client.describe_stream, StreamArn=arn + "-nope") == "ResourceNotFoundException"
    assert refused(client.get_records, ShardIterator="not-a-token") == "ValidationException"


def test_closed_shard_ends_and_children_come_after_their_parent(simulator):
    sim = simulator(table="lineage", shards=1, get_records_rate=0)
    client, arn = sim.client(), sim.stream_arn()
    sim.generate(10)
    (split,) = sim.split()
    sim.generate(30)
    shards = {s["ShardId"]: s for s in list_shards(client, arn)}
    parent = shards[split["parent"]]
    children = [shards[c] for c in split["children"]]

    it = client.get_shard_iterator(StreamArn=arn, ShardId=parent["ShardId"],
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = client.get_records(ShardIterator=it, Limit=6)
    assert len(page["Records"]) == 6 and "NextShardIterator" in page
    last = client.get_records(ShardIterator=page["NextShardIterator"], Limit=6)
    assert len(last["Records"]) == 4 and "NextShardIterator" not in last  # the end, with its last records
    parent_records = page["Records"] + last["Records"]
    assert parent["SequenceNumberRange"]["EndingSequenceNumber"] == parent_records[-1]["dynamodb"]["SequenceNumber"]
    latest = client.get_shard_iterator(StreamArn=arn, ShardId=parent["ShardId"],
                                       ShardIteratorType="LATEST")["ShardIterator"]
    end = client.get_records(ShardIterator=latest)
    assert end["Records"] == [] and "NextShardIterator" not in end

    child_records = []
    for child in children:
        assert child["ParentShardId"] == parent["ShardId"]
        assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) > seq(parent_records[-1])
        records, ended = read_shard(client, arn, child["ShardId"])
        assert not ended
        child_records += records
    assert len(child_records) == 30
    assert min(seq(r) for r in child_records) > max(seq(r) for r in parent_records)


def test_every_key_in_one_shard_at_a_time_across_splits(simulator):
    sim = simulator(table="routing", shards=4, keys=40, get_records_rate=0)
    client, arn = sim.client(), sim.stream_arn()
    for count in (2, 3, 0):
        sim.generate(150)
        if count:
            sim.split(count=count)
    pairs = read_stream(client, arn)
    assert len(pairs) == 450 == sim.truth()["records"]
    assert sim.stats()["splits"] == 5
    check_one_shard_at_a_time(pairs, sim, arn)


def test_get_records_rate_limit_per_shard(simulator):
    sim = simulator(table="rate", shards=1, get_records_rate=5)
    client, arn = sim.client(max_attempts=1), sim.stream_arn()
    sim.generate(5)
    (shard,) = list_shards(client, arn)
    it = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    outcomes = []
    for _ in range(6):
        try:
            client.get_records(ShardIterator=it)
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(error_code(exc))
    assert outcomes == ["ok"] * 5 + ["LimitExceededException"]

    def accepted() -> None:
        try:
            client.get_records(ShardIterator=it)
        except ClientError as exc:
            raise AssertionError(error_code(exc)) from exc

    eventually(accepted, timeout=5, interval=0.05)
    for _ in range(10):
        time.sleep(0.2)  # pacing: calls 200 ms apart are the most the limit allows, not a wait for a condition
        accepted()
    stats = sim.stats()
    assert stats["throttled"]["rate"] >= 1 and stats["throttled"]["readers"] == 0
    assert stats["max_get_records_per_second"] == 5


def test_two_readers_per_shard(simulator):
    sim = simulator(table="readers", shards=1, latency=0.5, get_records_rate=0, max_readers=2)
    clients = [sim.client(max_attempts=1) for _ in range(3)]
    arn = sim.stream_arn()
    sim.generate(5)
    (shard,) = list_shards(clients[0], arn)
    it = clients[0].get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                       ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def read(client) -> None:
        barrier.wait()
        try:
            outcomes.append(str(len(client.get_records(ShardIterator=it)["Records"])))
        except ClientError as exc:
            outcomes.append(error_code(exc))

    threads = [threading.Thread(target=read, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["5", "5", "LimitExceededException"]
    stats = sim.stats()
    assert stats["throttled"]["readers"] == 1 and stats["max_in_flight"] == 2
    assert len(clients[0].get_records(ShardIterator=it)["Records"]) == 5  # nothing left counted in flight


def test_describe_stream_rate_limit(simulator):
    sim = simulator(table="describe", describe_rate=3)
    client, arn = sim.client(max_attempts=1), sim.stream_arn()
    for _ in range(3):
        client.describe_stream(StreamArn=arn)
    assert refused(client.describe_stream, StreamArn=arn) == "LimitExceededException"
    assert sim.stats()["throttled"]["describe"] == 1

    def passes() -> None:
        try:
            client.describe_stream(StreamArn=arn)
        except ClientError as exc:
            raise AssertionError(error_code(exc)) from exc

    eventually(passes, timeout=5)


def test_retention_trims_records_and_expires_closed_shards(simulator):
    sim = simulator(table="retention", shards=1, retention=1.5, get_records_rate=0, describe_rate=0)
    client, arn = sim.client(max_attempts=1), sim.stream_arn()
    sim.generate(10)
    (shard,) = list_shards(client, arn)
    sid = shard["ShardId"]
    old = client.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    first = client.get_records(ShardIterator=old)["Records"]
    assert len(first) == 10
    last_old = first[-1]["dynamodb"]["SequenceNumber"]

    def trimmed() -> None:
        assert sim.shards()[0].get("TrimmedSequenceNumber") == last_old

    eventually(trimmed, timeout=10, interval=0.1)
    sim.generate(5)
    assert refused(client.get_records, ShardIterator=old) == "TrimmedDataAccessException"
    for kind, number in (("AFTER_SEQUENCE_NUMBER", first[0]), ("AT_SEQUENCE_NUMBER", first[-1])):
        assert refused(client.get_shard_iterator, StreamArn=arn, ShardId=sid, ShardIteratorType=kind,
                       SequenceNumber=number["dynamodb"]["SequenceNumber"]) == "TrimmedDataAccessException"
    after = client.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                                      SequenceNumber=last_old)["ShardIterator"]
    horizon = client.get_shard_iterator(StreamArn=arn, ShardId=sid, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    kept = client.get_records(ShardIterator=horizon)["Records"]
    assert len(kept) == 5 and seq(kept[0]) > int(last_old)
    assert client.get_records(ShardIterator=after)["Records"] == kept

    sim.split()
    parent_iterator = client.get_shard_iterator(StreamArn=arn, ShardId=sid,
                                                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def expired() -> None:
        assert sid not in [s["ShardId"] for s in list_shards(client, arn)]

    eventually(expired, timeout=10, interval=0.1)
    assert len(list_shards(client, arn)) == 2
    assert refused(client.get_shard_iterator, StreamArn=arn, ShardId=sid,
                   ShardIteratorType="TRIM_HORIZON") == "ResourceNotFoundException"
    assert refused(client.get_records, ShardIterator=parent_iterator) == "ResourceNotFoundException"
    stats = sim.stats()
    assert stats["shards"] == {"open": 2, "closed": 0, "expired": 1} and stats["trimmed"] == 15


def test_expired_iterator(simulator):
    sim = simulator(table="expiry", shards=1, iterator_ttl=0.5, get_records_rate=0)
    client, arn = sim.client(max_attempts=1), sim.stream_arn()
    sim.generate(3)
    (shard,) = list_shards(client, arn)
    it = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                   ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert len(client.get_records(ShardIterator=it)["Records"]) == 3

    def expired() -> None:
        try:
            client.get_records(ShardIterator=it)
        except ClientError as exc:
            assert error_code(exc) == "ExpiredIteratorException"
            return
        raise AssertionError("the iterator still works")

    eventually(expired, timeout=5, interval=0.1)
    fresh = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                      ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = client.get_records(ShardIterator=fresh, Limit=2)
    assert len(client.get_records(ShardIterator=page["NextShardIterator"])["Records"]) == 1


def test_generator_truth_equals_the_replayed_stream(simulator):
    sim = simulator(table="truth", shards=4, split_every=0.3, rate=500, keys=60, get_records_rate=0,
                    describe_rate=0)
    client, arn = sim.client(), sim.stream_arn()

    def enough() -> None:
        assert sim.truth()["records"] >= 600

    eventually(enough, timeout=20)
    sim.set_rate(0)
    truth = sim.truth()
    items: dict[str, Any] = {}
    pairs = read_stream(client, arn)
    for _, record in pairs:
        pk = record["dynamodb"]["Keys"]["pk"]["S"]
        exists = items.get(pk) is not None
        if record["eventName"] == "REMOVE":
            assert exists and "NewImage" not in record["dynamodb"]
            items[pk] = None
        else:
            assert record["eventName"] == ("MODIFY" if exists else "INSERT")
            items[pk] = record["dynamodb"]["NewImage"]
    assert len(pairs) == truth["records"]
    assert items == truth["items"]
    assert sim.stats()["splits"] >= 2
    check_one_shard_at_a_time(pairs, sim, arn)


def test_front_mode_reshards_a_dynamodb_local_stream(ddb, simulator):
    source, _ = ddb
    dynamodb = source.client()
    table = f"sim_front_{uuid.uuid4().hex[:6]}"
    dynamodb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "user", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "user", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    dynamodb.get_waiter("table_exists").wait(TableName=table)
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    sim = simulator(upstream=source.endpoint, shards=4, get_records_rate=0)
    client = sim.client(max_attempts=1)
    written: list[tuple[str, str, str, int | None]] = []

    def put(user: int, n: int, v: int) -> None:
        dynamodb.put_item(TableName=table, Item={"user": {"S": f"u{user}"}, "n": {"N": str(n)}, "v": {"N": str(v)}})
        written.append(("INSERT" if v == 0 else "MODIFY", f"u{user}", str(n), v))

    for v in range(3):
        for user in range(16):
            put(user, user % 2, v)
    description = client.describe_stream(StreamArn=arn)["StreamDescription"]  # the simulator starts following
    assert description["TableName"] == table and len(description["Shards"]) == 4
    assert sim.stream_arn() == arn
    assert description["KeySchema"] == dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]

    def arrived() -> None:
        assert sim.stats()["records_total"] == len(written)

    eventually(arrived, timeout=20, interval=0.05)
    sim.split(arn, count=2)
    for user in range(16):
        put(user, user % 2, 3)
        if user % 4 == 0:
            dynamodb.delete_item(TableName=table, Key={"user": {"S": f"u{user}"}, "n": {"N": str(user % 2)}})
            written.append(("REMOVE", f"u{user}", str(user % 2), None))
    eventually(arrived, timeout=20, interval=0.05)

    pairs = read_stream(client, arn)
    seen = []
    for _, record in pairs:
        keys = record["dynamodb"]["Keys"]
        image = record["dynamodb"].get("NewImage")
        seen.append((record["eventName"], keys["user"]["S"], keys["n"]["N"], int(image["v"]["N"]) if image else None))
    assert Counter(seen) == Counter(written) and len(seen) == len(written)  # every write, once
    per_key: dict[tuple[str, str], list[tuple[int, int | None]]] = defaultdict(list)
    for (_, record), (_, user, n, v) in zip(pairs, seen):
        per_key[(user, n)].append((seq(record), v))
    for key, changes in per_key.items():
        changes.sort()
        expected = [v for (_, u, n, v) in written if (u, n) == key]
        assert [v for _, v in changes] == expected, key  # in order per key
    check_one_shard_at_a_time(pairs, sim, arn, attr="user")

    upstream_pairs = []
    upstream = source.client("dynamodbstreams")
    for shard in list_shards(upstream, arn):
        upstream_pairs += read_shard(upstream, arn, shard["ShardId"])[0]
    by_seq = {r["dynamodb"]["SequenceNumber"]: r for r in upstream_pairs}
    for _, record in pairs:  # images, keys and sequence numbers as the upstream sent them
        original = by_seq[record["dynamodb"]["SequenceNumber"]]
        assert record["dynamodb"]["Keys"] == original["dynamodb"]["Keys"]
        assert record["dynamodb"].get("NewImage") == original["dynamodb"].get("NewImage")
        assert record["eventID"] == original["eventID"]
    # DynamoDB Local truncates the time to the minute; the simulator's is the time it received the record
    assert any(r["dynamodb"]["ApproximateCreationDateTime"].second or
               r["dynamodb"]["ApproximateCreationDateTime"].microsecond for _, r in pairs)

    gone = arn.replace(table, table + "_nope")
    assert refused(client.describe_stream, StreamArn=gone) == "ResourceNotFoundException"
