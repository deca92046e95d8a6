"""The first read after a pin proves that the stream still holds every change since: a shard read
from its start either has its start intact, or its oldest remaining record predates the pin."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from migrator.errors import StreamTrimmedError
from migrator.sources.dynamodb.offsets import StreamOffset
from migrator.sources.dynamodb.positions import PositionsLog
from migrator.sources.dynamodb.shard_reader import latest_possible, read_group
from migrator.sources.dynamodb.streams import plan_groups
from tests.unit.fake_streams import ARN, FakeClock, FakeStreams, record
from tests.unit.test_streams import FAST, planner_for, run_batches


def minute(n: int) -> float:
    return datetime(2026, 1, 1, 0, n, tzinfo=timezone.utc).timestamp()


def pinned(at: float):
    return replace(FAST, pinned_at=at)


def stream(first_minute=5, trimmed=False, parent=None):
    """One open shard whose records were made from ``first_minute`` on; ``trimmed``: older ones are gone."""
    return FakeStreams({"shard-1": [record(10 + i, f"k{i}", minute=first_minute) for i in range(3)]},
                       parents={"shard-1": parent} if parent else None,
                       first_seq={"shard-1": "1"} if trimmed else None)


def test_creation_times_are_taken_at_their_latest_possible_moment():
    assert latest_possible(minute(5)) == minute(5) + 60  # DynamoDB Local: whole minutes
    assert latest_possible(minute(5) + 7) == minute(5) + 8  # DynamoDB Streams: whole seconds
    assert latest_possible(minute(5) + 7.25) == minute(5) + 7.25
    assert latest_possible(datetime.fromtimestamp(minute(5) + 7, timezone.utc)) == minute(5) + 8
    assert latest_possible(None) is None


def test_an_intact_start_proves_the_shard_whatever_its_records_times(tmp_path):
    batches, _ = run_batches(stream(first_minute=5), PositionsLog(str(tmp_path)), settings=pinned(minute(1)))
    assert len([r for batch in batches for r in batch]) == 3


def test_a_trimmed_start_whose_oldest_record_is_after_the_pin_stops_the_query(tmp_path):
    with pytest.raises(StreamTrimmedError, match="records were trimmed from its start, and the oldest record it "
                       r"still holds \(000000000000000000010\) is from after the stream was pinned at "
                       "2026-01-01T00:03:00"):
        run_batches(stream(first_minute=5, trimmed=True), PositionsLog(str(tmp_path)), settings=pinned(minute(3)))


def test_a_trimmed_start_with_records_older_than_the_pin_lost_only_what_the_snapshot_saw(tmp_path):
    # Made within minute 5 (DynamoDB Local's precision), pinned at minute 6: proven.
    batches, _ = run_batches(stream(first_minute=5, trimmed=True), PositionsLog(str(tmp_path)),
                             settings=pinned(minute(6)))
    assert len([r for batch in batches for r in batch]) == 3
    # Pinned within the same minute: the record may be later than the pin, so nothing is proven.
    with pytest.raises(StreamTrimmedError, match="trimmed from its start"):
        run_batches(stream(first_minute=5, trimmed=True), PositionsLog(str(tmp_path / "b")),
                    settings=pinned(minute(5) + 30))


def test_a_trimmed_start_with_no_record_left_proves_nothing(tmp_path):
    client = FakeStreams({"shard-1": []}, first_seq={"shard-1": "1"})
    with pytest.raises(StreamTrimmedError, match="records were trimmed from its start and it holds none since"):
        run_batches(client, PositionsLog(str(tmp_path)), settings=pinned(minute(3)))


def test_without_a_pin_the_oldest_remaining_record_is_where_reading_starts(tmp_path):
    batches, _ = run_batches(stream(first_minute=5, trimmed=True), PositionsLog(str(tmp_path)))
    assert len([r for batch in batches for r in batch]) == 3


def test_an_orphan_of_the_first_listing_needs_records_from_before_the_pin(tmp_path):
    # Its parent expired: it held this key range's changes until this shard began.
    with pytest.raises(StreamTrimmedError, match="its parent shard expired from the stream"):
        run_batches(stream(first_minute=5, parent="shard-0-expired"), PositionsLog(str(tmp_path)),
                    settings=pinned(minute(3)))
    batches, _ = run_batches(stream(first_minute=5, parent="shard-0-expired"), PositionsLog(str(tmp_path / "b")),
                             settings=pinned(minute(8)))
    assert len([r for batch in batches for r in batch]) == 3


def test_a_child_whose_start_was_trimmed_before_it_was_read_stops_the_query(tmp_path):
    client = FakeStreams({"shard-1-p": [record(1, "k")], "shard-2-c": [record(20, "k")]},
                         parents={"shard-2-c": "shard-1-p"}, closed={"shard-1-p"}, first_seq={"shard-2-c": "5"})
    with pytest.raises(StreamTrimmedError, match="shard shard-2-c .* no longer holds its oldest records"):
        run_batches(client, PositionsLog(str(tmp_path)), parts=1)  # no pin needed: a child's start is known


def test_offsets_carry_the_proof_of_shards_still_at_their_start(tmp_path):
    client = FakeStreams({"shard-1": [], "shard-2-p": [record(1, "k")], "shard-3-c": [], "shard-4-o": []},
                         parents={"shard-3-c": "shard-2-p", "shard-4-o": "gone"}, closed={"shard-2-p"})
    log = PositionsLog(str(tmp_path))
    planner = planner_for(client, log, parts=1)
    first = planner.next_offset(StreamOffset(ARN, parts=1).to_dict(), None)
    assert first["starts"] == {"shard-1": ["0", "root"], "shard-2-p": ["000000000000000000001", "root"],
                               "shard-4-o": ["0", "orphan"]}
    assert StreamOffset.from_dict(first).to_dict() == first
    clock = FakeClock()
    for group in plan_groups(StreamOffset(ARN, parts=1).to_dict(), first):
        list(read_group(client, log, group, FAST, clock, clock.sleep))
    second = planner.next_offset(first, None)
    # Shards still at their start keep their proof; the orphan, read to its end without a record,
    # has shown its parent ended before any change it could hold; the child of the finished parent
    # must show every record it held.
    assert second["starts"] == {"shard-1": ["0", "root"], "shard-3-c": ["0", "child"],
                                "shard-4-o": ["0", "root"]}


def test_a_listed_start_that_is_no_record_of_the_shard_is_read_from_its_oldest_record(tmp_path):
    # DynamoDB Local: the listed start (1) was taken by another table's write; GetRecords refuses it.
    quirk = FakeStreams({"shard-1": [record(10 + i, f"k{i}", minute=5) for i in range(3)]},
                        first_seq={"shard-1": "1"}, counter_starts={"shard-1"})
    batches, _ = run_batches(quirk, PositionsLog(str(tmp_path)), settings=pinned(minute(3)))
    assert len([r for batch in batches for r in batch]) == 3

