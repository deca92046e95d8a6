"""The dynamodb-streams source without Spark: lineage, offsets, planning and executor reads on a fake client."""

from __future__ import annotations

import json

import pytest

from migrator.errors import StreamTrimmedError
from migrator.sources.dynamodb.offsets import StreamOffset, advance, budgets, group_of, legacy_ranges
from migrator.sources.dynamodb.planner import StreamPlanner
from migrator.sources.dynamodb.positions import PartitionRecord, PositionsLog, ShardOutcome
from migrator.sources.dynamodb.shard_reader import Budget, ReadSettings, read_group, seq
from migrator.sources.dynamodb.shards import (OrphanShard, Shard, ShardDirectory, SweepResult, lost_shards,
                                              readable)
from migrator.sources.dynamodb.streams import plan_groups, record_row
from tests.unit.fake_streams import ARN, FakeClock, FakeStreams, record

FAST = ReadSettings(threads=2, seconds=1e9, calls_per_second=5.0, patience=30.0, raw=False)  # a fake client


def planner_for(client, log, parts=2):
    return StreamPlanner(lambda: client, ARN, log, parts, sleep=lambda s: None)


def run_batches(client, log, max_records=None, parts=2, settings=FAST, clock=None, limit=60):
    """Plan and read batches as Spark would, until every shard is caught up (Trigger.AvailableNow).

    Returns the records each batch read, as lists of (shard id, sequence number)."""
    clock = clock or FakeClock()
    planner = planner_for(client, log, parts)
    start = StreamOffset(ARN, parts=parts, max_records=max_records).to_dict()
    batches = []
    while len(batches) < limit:
        end = planner.next_offset(start, max_records, available_now=True)
        if end == start:
            return batches, start
        got = []
        for group in plan_groups(start, end):
            got += [(sid, r["dynamodb"]["SequenceNumber"]) for sid, r in read_group(client, log, group, settings,
                                                                                   clock, clock.sleep)]
        batches.append(got)
        start = end
    raise AssertionError("the stream was never caught up")


def split_stream():
    """A parent that split into two children; key k0..k3 changes run through the split."""
    return FakeStreams(
        {"shard-1-p": [record(i, f"k{i % 4}") for i in range(1, 8)],
         "shard-2-a": [record(i, f"k{i % 4}") for i in range(20, 25)],
         "shard-3-b": [record(i, f"x{i}") for i in range(30, 32)]},
        parents={"shard-2-a": "shard-1-p", "shard-3-b": "shard-1-p"}, closed={"shard-1-p"}, page=3)


def test_sequence_numbers_compare_as_integers():
    assert seq("9") < seq("10")
    assert "9" > "10"  # what string comparison would have done
    assert seq(None) < seq("000000000000000000000") and seq("") == -1


def test_lineage_reads_a_child_only_after_its_parent_is_done():
    listing = {s.shard_id: s for s in [Shard("parent", None, "1", "10"), Shard("left", "parent", "11", None),
                                       Shard("right", "parent", "12", None), Shard("orphan", "expired", "5", None)]}
    assert readable(listing, {}, set(), first_listing=True) == ["orphan", "parent"]
    assert readable(listing, {"parent": "4", "orphan": ""}, set(), first_listing=False) == []
    assert readable(listing, {"orphan": ""}, {"parent"}, first_listing=False) == ["left", "right"]
    with pytest.raises(OrphanShard, match="parent expired is neither known nor listed"):
        readable(listing, {}, {"parent"}, first_listing=False)  # a later listing: "expired" was never read


def test_a_complete_listing_finds_started_shards_that_expired():
    sweep = SweepResult(listed={"b"}, known_before={"a", "b"})
    assert lost_shards(sweep, {"a": "5", "b": "", "c": ""}) == ["a"]  # c was discovered during the sweep


def test_offsets_round_trip_with_sorted_keys_and_plain_values():
    o = StreamOffset(ARN, 3, 2, 100, {"z": "2", "a": ""}, {"q", "b"})
    data = o.to_dict()
    assert list(data["shards"]) == ["a", "z"] and data["done"] == ["b", "q"]
    assert json.loads(json.dumps(data)) == data and StreamOffset.from_dict(data) == o
    assert StreamOffset.from_dict(StreamOffset(ARN).to_dict()).max_records is None


def test_offsets_of_the_earlier_layout_are_read():
    old = {"stream": ARN, "shards": {"a": {"seq": "9", "done": False}, "b": {"seq": "7", "done": True},
                                     "c": {"seq": None, "done": False}}}
    o = StreamOffset.from_dict(old, parts=4)
    assert (o.batch, o.parts, o.shards, o.done) == (-1, 4, {"a": "9", "c": ""}, {"b"})
    before = {"stream": ARN, "shards": {"a": {"seq": "5", "done": False}}}
    assert legacy_ranges(before, old) == {"a": ("5", "9"), "b": ("", "7")}
    (group_a, group_b) = plan_groups(before, old)
    assert (group_a.shards, group_a.stops, group_a.batch) == ((("a", "5"),), (("a", "9"),), -1)


def test_advance_moves_read_shards_and_keeps_the_others():
    o = StreamOffset(ARN, 4, 2, None, {"a": "5", "b": "", "c": "9"}, set())
    shards, done, caught_up = advance(o, {"a": ShardOutcome(last="8"), "b": ShardOutcome(last="3", done=True)})
    assert shards == {"a": "8", "c": "9"} and done == {"b"} and caught_up is False  # c has no outcome
    _, _, caught_up = advance(o, {"a": ShardOutcome(), "b": ShardOutcome(), "c": ShardOutcome(behind=False)})
    assert caught_up is True
    _, _, caught_up = advance(o, {"a": ShardOutcome(behind=True), "b": ShardOutcome(), "c": ShardOutcome()})
    assert caught_up is False


def test_each_task_gets_a_share_of_the_batch_limit_and_keeps_its_shards():
    ids = [f"shardId-{i:03d}" for i in range(40)]
    shares = budgets(ids, 4, 1000)
    assert sum(shares.values()) <= 1000 and len(shares) == 4 and min(shares.values()) > 100
    assert budgets(ids, 4, None) == {i: None for i in shares}
    assert all(group_of(sid, 4) == group_of(sid, 4) in range(4) for sid in ids)


def test_the_budget_is_shared_by_concurrent_calls_and_refunded():
    budget = Budget(100)
    budget.active = 4
    limits = [budget.reserve() for _ in range(4)]
    assert limits == [25, 18, 14, 10] and budget.left == 33
    budget.refund(sum(limits))
    budget.active = 1
    assert budget.reserve() == 100 and budget.reserve() == 0
    assert Budget(None).reserve() == 1000


def test_the_directory_lists_everything_once_then_only_new_shards():
    client = FakeStreams({f"shard-{i}": [] for i in range(5)}, page=1)
    clock = FakeClock()
    directory = ShardDirectory(lambda **kw: client.describe_stream(**kw)["StreamDescription"], ARN,
                               sweep_seconds=60, pages_per_refresh=1, clock=clock)
    first = directory.refresh()
    assert first is not None and first.listed == {f"shard-{i}" for i in range(5)} and directory.calls == 3
    assert directory.refresh() is None and directory.calls == 4  # one incremental call, nothing new
    assert client.describe_args[-1] == {"ExclusiveStartShardId": "shard-4"}
    client.shards["shard-5"] = []
    del client.shards["shard-0"]  # expired
    directory.refresh()
    assert "shard-5" in directory.shards and "shard-0" in directory.shards  # not swept yet
    clock.advance(61)
    results = [directory.refresh() for _ in range(3)]  # the sweep: one page per refresh
    sweep = next(r for r in results if r is not None)
    assert "shard-0" not in sweep.listed and "shard-0" not in directory.shards and "shard-5" in directory.shards


def test_new_shards_are_looked_for_after_a_shard_ends_and_every_discover_seconds(tmp_path):
    client = FakeStreams({"shard-1-p": [record(i, "k") for i in range(1, 4)]})
    clock, log = FakeClock(), PositionsLog(str(tmp_path))
    planner = StreamPlanner(lambda: client, ARN, log, 1, discover_seconds=10, clock=clock, sleep=clock.sleep)

    def plan_and_read(start):
        end = planner.next_offset(start, None)
        for group in plan_groups(start, end):
            list(read_group(client, log, group, FAST, clock, clock.sleep))
        return end

    offset = plan_and_read(StreamOffset(ARN, parts=1).to_dict())  # the first listing
    calls = client.calls["describe_stream"]
    for _ in range(3):  # nothing finished: no DescribeStream
        offset = plan_and_read(offset)
        clock.advance(1)
    assert client.calls["describe_stream"] == calls
    clock.advance(10)
    offset = plan_and_read(offset)
    assert client.calls["describe_stream"] == calls + 1  # discover_seconds passed
    client.closed.add("shard-1-p")  # the shard splits
    client.shards.update({"shard-2-a": [record(5, "k")], "shard-3-b": []})
    client.parents.update({"shard-2-a": "shard-1-p", "shard-3-b": "shard-1-p"})
    offset = plan_and_read(offset)  # reads the parent's end
    assert offset["shards"].keys() == {"shard-1-p"}
    offset = planner.next_offset(offset, None)  # the parent finished: its children are looked for
    assert set(offset["shards"]) == {"shard-2-a", "shard-3-b"} and offset["done"] == ["shard-1-p"]


def test_every_record_is_read_once_in_lineage_order_across_batches(tmp_path):
    batches, final = run_batches(split_stream(), PositionsLog(str(tmp_path)), max_records=4)
    seen = [item for batch in batches for item in batch]
    assert sorted(int(s) for _, s in seen) == list(range(1, 8)) + list(range(20, 25)) + [30, 31]
    assert len(seen) == len(set(seen))
    for batch in batches:
        shards = {sid for sid, _ in batch}
        assert not ("shard-1-p" in shards and shards & {"shard-2-a", "shard-3-b"}), "parent and child in one batch"
        assert len(batch) <= 4
    parent = [int(s) for sid, s in seen if sid == "shard-1-p"]
    assert parent == sorted(parent)
    first_child = min(i for i, (sid, _) in enumerate(seen) if sid != "shard-1-p")
    assert first_child > max(i for i, (sid, _) in enumerate(seen) if sid == "shard-1-p")
    assert final["done"] == ["shard-1-p"] and set(final["shards"]) == {"shard-2-a", "shard-3-b"}


def test_the_next_batch_continues_with_the_iterators_its_predecessor_left(tmp_path):
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 5)]}, page=10)
    log = PositionsLog(str(tmp_path))
    planner = planner_for(client, log, parts=1)
    clock = FakeClock()
    start = StreamOffset(ARN, parts=1).to_dict()
    counts = []
    for _ in range(3):
        end = planner.next_offset(start, None)
        counts.append(sum(1 for group in plan_groups(start, end)
                          for _ in read_group(client, log, group, FAST, clock, clock.sleep)))
        client.shards["s"].append(record(10 + len(counts), "k"))
        start = end
    assert counts == [4, 1, 1]
    assert client.calls["get_shard_iterator"] == 1  # later batches used the recorded iterators


def test_a_replayed_batch_reads_exactly_what_it_read_before(tmp_path):
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 4)]}, page=10)
    log = PositionsLog(str(tmp_path / "p"))
    planner = planner_for(client, log, parts=1)
    start = StreamOffset(ARN, parts=1).to_dict()
    end = planner.next_offset(start, None)
    (group,) = plan_groups(start, end)
    clock = FakeClock()
    first = [r["dynamodb"]["SequenceNumber"] for _, r in read_group(client, log, group, FAST, clock, clock.sleep)]
    client.shards["s"] += [record(i, "k") for i in range(4, 9)]  # more changes arrive before the replay
    again = [r["dynamodb"]["SequenceNumber"] for _, r in read_group(client, log, group, FAST, clock, clock.sleep)]
    assert again == first and [int(s) for s in first] == [1, 2, 3]
    following = planner.next_offset(end, None)
    assert following["shards"] == {"s": f"{3:021d}"} and following["batch"] == end["batch"] + 1


def test_an_attempt_that_lost_the_race_reads_on_to_the_recorded_end(tmp_path):
    log = PositionsLog(str(tmp_path / "p"))
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 4)]}, page=10)
    start = StreamOffset(ARN, parts=1).to_dict()
    end = planner_for(client, log, 1).next_offset(start, None)
    (group,) = plan_groups(start, end)
    other = PartitionRecord(ARN, group.batch, group.index, {"s": ShardOutcome(last=f"{6:021d}")})
    original = client.get_records

    def racing(**kwargs):
        page = original(**kwargs)
        if not page["Records"] and log.read(group.batch, group.index) is None:
            # This attempt is caught up at 3; another attempt of the task (a lost executor's, still
            # running) saw more records and recorded 6 first.
            log.create(other)
            client.shards["s"] += [record(i, "k") for i in range(4, 9)]
        return page

    client.get_records = racing
    clock = FakeClock()
    got = [int(r["dynamodb"]["SequenceNumber"]) for _, r in read_group(client, log, group, FAST, clock, clock.sleep)]
    assert got == [1, 2, 3, 4, 5, 6]
    assert log.read(group.batch, group.index).shards["s"].last == f"{6:021d}"


def test_calls_on_one_shard_keep_the_pace_across_batches(tmp_path):
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 40)]}, page=5)
    clock = FakeClock()
    times = []
    original = client.get_records

    def timed(**kwargs):
        times.append(clock())
        return original(**kwargs)

    client.get_records = timed
    run_batches(client, PositionsLog(str(tmp_path)), max_records=12,
                settings=ReadSettings(threads=1, seconds=1e9, calls_per_second=5.0, raw=False), clock=clock)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) >= 8 and min(gaps) >= 0.2 - 1e-9


def test_throttling_is_retried_without_limit_and_counted(tmp_path):
    client = FakeStreams({f"s{i}": [record(i * 100 + n, f"k{i}") for n in range(1, 30)] for i in range(3)},
                         page=4, throttle_every=2)
    log = PositionsLog(str(tmp_path))
    batches, _ = run_batches(client, log)
    assert sum(len(b) for b in batches) == 87 and client.calls["throttled"] > 20
    stats = [r.stats for r in log.read_batch(0)]
    assert sum(s.throttles for s in stats) > 5 and sum(s.calls for s in stats) > 5


def test_throttled_iterator_requests_are_counted_too(tmp_path):
    client = FakeStreams({f"s{i}": [record(i * 10 + 1, f"k{i}")] for i in range(3)}, throttle_iterators=True)
    log = PositionsLog(str(tmp_path))
    batches, _ = run_batches(client, log)
    assert sum(len(b) for b in batches) == 3 and client.calls["throttled"] == 3  # one per shard's first iterator
    assert sum(r.stats.throttles for r in log.read_batch(0)) == 3


def test_expired_iterators_are_renewed_and_trimmed_positions_stop_loudly(tmp_path):
    client = FakeStreams({"s": [record(i, "k") for i in range(1, 5)]}, page=2, expire_once={"s:2"})
    batches, _ = run_batches(client, PositionsLog(str(tmp_path / "a")))
    assert sum(len(b) for b in batches) == 4
    trimmed = FakeStreams({"s": [record(1, "k")]}, trimmed={"s"})
    with pytest.raises(StreamTrimmedError, match="24-hour retention trimmed changes .* lost; run a new snapshot"):
        run_batches(trimmed, PositionsLog(str(tmp_path / "b")))


def test_a_started_shard_no_longer_listed_stops_the_query(tmp_path):
    client = FakeStreams({"b": []})
    start = StreamOffset(ARN, 5, 2, None, {"a": "5"}, set()).to_dict()
    with pytest.raises(StreamTrimmedError, match="shards a of .* expired before they were read to their end"):
        planner_for(client, PositionsLog(str(tmp_path))).next_offset(start, None)


def test_a_shard_whose_parent_expired_unread_stops_the_query(tmp_path):
    client = FakeStreams({"shard-9": [record(1, "k")]}, parents={"shard-9": "shard-0"})
    planner = planner_for(client, PositionsLog(str(tmp_path)))
    first = planner.next_offset(StreamOffset(ARN, parts=2).to_dict(), None)
    assert first["shards"] == {"shard-9": ""}  # the first listing: shard-0 expired before the query began
    later = StreamOffset(ARN, 3, 2, None, {"shard-1": "4"}, set()).to_dict()
    client.shards["shard-1"] = []
    with pytest.raises(StreamTrimmedError, match="shard-9 of .* descends from shard-0"):
        planner_for(client, PositionsLog(str(tmp_path / "2"))).next_offset(later, None)


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


def test_positions_live_inside_the_checkpoint_on_paths_executors_can_write():
    from migrator.sources.dynamodb.positions import positions_path

    assert positions_path("/cp") == "/cp/positions" and positions_path("file:///tmp/cp") == "/tmp/cp/positions"
    assert positions_path("s3a://bucket/cp/") == "s3a://bucket/cp/positions"
    with pytest.raises(ValueError, match="hdfs:///cp: .* local or shared paths and s3:// only"):
        positions_path("hdfs:///cp")


def test_old_positions_files_are_purged(tmp_path):
    log = PositionsLog(str(tmp_path))
    for batch in range(5):
        log.create(PartitionRecord(ARN, batch, 0, {"s": ShardOutcome(last=str(batch))}))
    log.purge(3)
    assert [r.batch for b in range(5) for r in log.read_batch(b)] == [3, 4]
    assert log.create(PartitionRecord(ARN, 4, 0)).shards["s"].last == "4"  # it exists: the existing one


def test_a_batch_planned_by_the_earlier_layout_is_replayed_exactly_and_then_continued(tmp_path):
    client = FakeStreams({"a": [record(i, "k") for i in range(1, 10)]}, page=10)
    log = PositionsLog(str(tmp_path))
    start = {"stream": ARN, "shards": {"a": {"seq": f"{2:021d}", "done": False}}}
    end = {"stream": ARN, "shards": {"a": {"seq": f"{5:021d}", "done": False}}}
    clock = FakeClock()
    (group,) = plan_groups(start, end)
    got = [int(r["dynamodb"]["SequenceNumber"]) for _, r in read_group(client, log, group, FAST, clock, clock.sleep)]
    assert got == [3, 4, 5] and not list(tmp_path.iterdir())  # no positions file for such a batch
    following = planner_for(client, log).next_offset(end, None)
    assert following["batch"] == 0 and following["shards"] == {"a": f"{5:021d}"}
