"""DynamoDB Streams source logic against a fake client: lineage, offsets, probing, reads."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from migrator.changes import batch_line, last_changes
from migrator.errors import StreamTrimmedError
from migrator.sources.dynamodb.streams import (Shard, ShardProbe, ShardRange, list_shards,
                                               lost_shards, offset, plan_end, plan_ranges, read_range,
                                               readable_shards, record_row, seq)

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
    """Shards as lists of records; iterators are "shard:index" strings; pages of ``page`` records.

    A shard is open unless listed in ``closed``; an open shard's last page has a next iterator.
    """

    def __init__(self, shards, parents=None, closed=(), page=3, expire_once=(), trimmed=()):
        self.shards = shards
        self.parents = parents or {}
        self.closed = set(closed)
        self.page = page
        self.expire_once = set(expire_once)
        self.trimmed = set(trimmed)
        self.calls = {"get_records": 0, "describe_stream": 0}

    def describe_stream(self, StreamArn, ExclusiveStartShardId=None, **kwargs):
        self.calls["describe_stream"] += 1
        ids = sorted(self.shards)
        if ExclusiveStartShardId:
            ids = [i for i in ids if i > ExclusiveStartShardId]
        page, rest = ids[:2], ids[2:]   # paginate two shards at a time
        shards = []
        for sid in page:
            rng = {"StartingSequenceNumber": self.shards[sid][0]["dynamodb"]["SequenceNumber"] if self.shards[sid] else "0"}
            if sid in self.closed:
                rng["EndingSequenceNumber"] = self.shards[sid][-1]["dynamodb"]["SequenceNumber"]
            entry = {"ShardId": sid, "SequenceNumberRange": rng}
            if sid in self.parents:
                entry["ParentShardId"] = self.parents[sid]
            shards.append(entry)
        out = {"StreamDescription": {"Shards": shards}}
        if rest:
            out["StreamDescription"]["LastEvaluatedShardId"] = page[-1]
        return out

    def get_shard_iterator(self, StreamArn, ShardId, ShardIteratorType, SequenceNumber=None):
        if ShardId in self.trimmed:
            raise error("TrimmedDataAccessException")
        records = self.shards[ShardId]
        if ShardIteratorType == "TRIM_HORIZON":
            index = 0
        else:
            index = next(i + 1 for i, r in enumerate(records) if r["dynamodb"]["SequenceNumber"] == SequenceNumber)
        return {"ShardIterator": f"{ShardId}:{index}"}

    def get_records(self, ShardIterator, Limit=1000):
        self.calls["get_records"] += 1
        if ShardIterator in self.expire_once:
            self.expire_once.discard(ShardIterator)
            raise error("ExpiredIteratorException")
        sid, index = ShardIterator.rsplit(":", 1)
        index = int(index)
        records = self.shards[sid][index:index + min(Limit, self.page)]
        end = index + len(records)
        done = end >= len(self.shards[sid]) and sid in self.closed
        return {"Records": records, "NextShardIterator": None if done else f"{sid}:{end}"}


def probe_for(client):
    return ShardProbe(lambda: client, ARN, sleep=lambda s: None)


def test_sequence_numbers_compare_as_integers():
    assert seq("9") < seq("10")
    assert "9" > "10"  # what string comparison would have done
    assert seq(None) < seq("000000000000000000000")


def test_lineage_reads_a_child_only_after_its_parent_is_done():
    listing = [Shard("parent", None, "1", "10"), Shard("left", "parent", "11", None),
               Shard("right", "parent", "12", None), Shard("orphan", "expired-long-ago", "5", None)]
    assert [s.shard_id for s in readable_shards(listing, {})] == ["parent", "orphan"]
    positions = {"parent": {"seq": "10", "done": True}}
    assert [s.shard_id for s in readable_shards(listing, positions)] == ["orphan", "left", "right"]


def test_shards_started_but_no_longer_listed_are_lost():
    listing = [Shard("b", None, "1", None)]
    assert lost_shards(listing, {"a": {"seq": "5", "done": False}, "c": {"seq": "9", "done": True}}) == ["a"]
    with pytest.raises(StreamTrimmedError, match="shards a of .* expired before they were read to their end"):
        plan_end(probe_for(FakeStreams({"b": []})), listing, {"stream": ARN, "shards": {"a": {"seq": "5", "done": False}}}, None)


def test_offsets_have_sorted_keys_and_plain_values():
    o = offset(ARN, {"z": {"seq": "2", "done": False}, "a": {"seq": None, "done": True}})
    assert list(o["shards"]) == ["a", "z"]
    assert json.loads(json.dumps(o)) == o


def test_a_split_is_read_in_lineage_order_across_batches_within_the_limit():
    client = FakeStreams(
        {"p": [record(i, f"k{i % 4}") for i in range(1, 8)],
         "c1": [record(i, f"k{i % 4}") for i in range(20, 25)],
         "c2": [record(i, f"x{i}") for i in range(30, 32)]},
        parents={"c1": "p", "c2": "p"}, closed={"p"}, page=3)
    probe = probe_for(client)
    start = offset(ARN, {})
    seen = []
    batches = 0
    while True:
        listing = list_shards(client, ARN)
        end = plan_end(probe, listing, start, max_records=4)
        ranges = plan_ranges(start, end)
        if not ranges and end == start:
            break
        shards_in_batch = {r.shard_id for r in ranges}
        assert not ({"p"} & shards_in_batch and {"c1", "c2"} & shards_in_batch), "parent and child in one batch"
        for r in ranges:
            seen.extend((r.shard_id, rec["dynamodb"]["SequenceNumber"]) for rec in read_range(client, r, sleep=lambda s: None))
        assert sum(1 for _ in ranges) <= 2
        start = end
        batches += 1
        assert batches < 20
    parent = [s for sid, s in seen if sid == "p"]
    assert [int(s) for s in parent] == list(range(1, 8))
    assert seen.index(("c1", f"{20:021d}")) > seen.index(("p", f"{7:021d}"))
    assert sorted(int(s) for _, s in seen) == list(range(1, 8)) + list(range(20, 25)) + [30, 31]
    assert start["shards"]["p"]["done"] is True


def test_the_batch_limit_is_shared_so_that_no_shard_starves():
    client = FakeStreams({f"s{i}": [record(i * 100 + n, f"k{i}") for n in range(1, 50)] for i in range(4)}, page=100)
    listing = list_shards(client, ARN)
    end = plan_end(probe_for(client), listing, offset(ARN, {}), max_records=40)
    read = {sid: int(p["seq"]) % 100 for sid, p in end["shards"].items()}
    assert read == {"s0": 10, "s1": 10, "s2": 10, "s3": 10}


def test_probe_keeps_its_iterator_between_batches_and_renews_expired_ones():
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 5)]}, page=2, expire_once={"s:2"})
    probe = probe_for(client)
    shard = Shard("s", None, "1", None)
    last, done, count = probe.advance(shard, None, budget=2)
    assert (int(last), done, count) == (2, False, 2)
    last, done, count = probe.advance(shard, last, budget=10)   # iterator s:2 expired: renewed
    assert (int(last), done, count) == (4, False, 2)
    last2, done, count = probe.advance(shard, last, budget=10)  # open shard, nothing new
    assert (last2, done, count) == (last, False, 0)


def test_probe_rebuilds_its_position_after_a_restart():
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 6)]}, page=10)
    shard = Shard("s", None, "1", None)
    last, _, _ = probe_for(client).advance(shard, f"{3:021d}", budget=10)  # a fresh probe, mid-shard
    assert int(last) == 5


def test_trimmed_positions_stop_with_a_clear_error():
    client = FakeStreams({"s": [record(1, "k")]}, trimmed={"s"})
    with pytest.raises(StreamTrimmedError, match="24-hour retention trimmed changes .* lost; run a new snapshot"):
        probe_for(client).advance(Shard("s", None, "1", None), f"{1:021d}", budget=5)


def test_plan_ranges_covers_only_shards_with_new_records():
    start = {"stream": ARN, "shards": {"a": {"seq": "5", "done": False}, "b": {"seq": "7", "done": False}}}
    end = {"stream": ARN, "shards": {"a": {"seq": "9", "done": False}, "b": {"seq": "7", "done": True},
                                      "c": {"seq": "3", "done": False}, "d": {"seq": None, "done": False}}}
    assert plan_ranges(start, end) == [ShardRange(ARN, "a", "5", "9"), ShardRange(ARN, "c", None, "3")]
    assert plan_ranges(end, end) == []


def test_read_range_stops_at_the_planned_end_and_skips_empty_pages():
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 10)]}, page=2)
    got = [r["dynamodb"]["SequenceNumber"] for r in
           read_range(client, ShardRange(ARN, "s", f"{2:021d}", f"{6:021d}"), sleep=lambda s: None)]
    assert [int(g) for g in got] == [3, 4, 5, 6]


def test_record_rows_repair_empty_maps_and_map_unknown_events():
    rec = {"eventName": "UNKNOWN_TO_SDK_VERSION",
           "dynamodb": {"SequenceNumber": "1", "Keys": {"pk": {"B": b"\x00"}}, "ApproximateCreationDateTime": None}}
    assert record_row(rec, "s")[0] == "REMOVE"  # a TTL deletion on DynamoDB Local
    rec = record(2, "k")
    rec["dynamodb"]["NewImage"]["m"] = {}
    rec["dynamodb"]["NewImage"]["l"] = {"L": [{}]}
    row = record_row(rec, "s")
    image = json.loads(row[2])
    assert image["m"] == {"M": {}} and image["l"] == {"L": [{"M": {}}]}
    assert row[3] == f"{2:021d}" and row[4] == "s"


class Row:
    def __init__(self, rec):
        (self.event_name, self.keys, self.new_image, self.sequence_number, self.shard_id,
         self.approximate_creation_time) = record_row(rec, "s")


def test_last_change_per_key_wins_by_sequence_number_not_arrival():
    rows = [Row(record(10, "a", "INSERT", 1)), Row(record(12, "a", "MODIFY", 3)), Row(record(11, "a", "MODIFY", 2)),
            Row(record(13, "b", "INSERT", 1)), Row(record(14, "b", "REMOVE", minute=5))]
    changes, counts = last_changes(rows, {})
    by_key = {c.keys["pk"]["S"]: c for c in changes}
    assert by_key["a"].image["v"] == {"N": "3"} and not by_key["a"].is_delete
    assert by_key["b"].is_delete and by_key["b"].keys == {"pk": {"S": "b"}}
    assert (counts.INSERT, counts.MODIFY, counts.REMOVE) == (2, 2, 1)
    assert counts.newest == datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc).timestamp()
    # Every record time here is a whole minute (as DynamoDB Local writes them): no lag then.
    assert batch_line(12, counts, 1.26) == ("batch 12: | INSERT | 2 | MODIFY | 2 | REMOVE | 1 |  "
                                            "lag n/a (record times are whole minutes)")
    counts.fine_times = True
    assert batch_line(12, counts, 1.26) == "batch 12: | INSERT | 2 | MODIFY | 2 | REMOVE | 1 |  lag 1.3 s"


def test_keys_compare_by_value_and_renames_apply():
    one = record(1, "x", "INSERT")
    two = record(2, "x", "MODIFY")
    one["dynamodb"]["Keys"] = {"n": {"N": "1.50"}}
    two["dynamodb"]["Keys"] = {"n": {"N": "1.5"}}
    changes, _ = last_changes([Row(one), Row(two)], {"n": "id", "v": "value"})
    (change,) = changes
    assert change.sequence == 2 and change.keys == {"id": {"N": "1.5"}} and "value" in change.image
