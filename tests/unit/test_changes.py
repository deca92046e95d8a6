"""Which change of a key wins in a batch, the batch line, and the lag of every record."""

from __future__ import annotations

from datetime import datetime, timezone

from migrator.changes import BatchCounts, batch_line, last_changes, record_lags
from migrator.lag import LagHistogram, bucket, upper_bound
from migrator.sources.dynamodb.streams import record_row
from tests.unit.fake_streams import record


class Row:
    def __init__(self, rec):
        (self.event_name, self.keys, self.new_image, self.sequence_number, self.shard_id,
         self.approximate_creation_time) = record_row(rec, "s")


def test_last_change_per_key_wins_by_sequence_number_not_arrival():
    rows = [Row(record(10, "a", "INSERT", 1)), Row(record(12, "a", "MODIFY", 3)), Row(record(11, "a", "MODIFY", 2)),
            Row(record(13, "b", "INSERT", 1)), Row(record(14, "b", "REMOVE", minute=5))]
    changes, counts, created = last_changes(rows, {})
    by_key = {c.keys["pk"]["S"]: c for c in changes}
    assert by_key["a"].image["v"] == {"N": "3"} and not by_key["a"].is_delete
    assert by_key["b"].is_delete and by_key["b"].keys == {"pk": {"S": "b"}}
    assert (counts.INSERT, counts.MODIFY, counts.REMOVE) == (2, 2, 1) and counts.records == 5
    assert counts.newest == datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc).timestamp() and len(created) == 5
    # Every record time here is a whole minute (as DynamoDB Local writes them): no lag then.
    record_lags(counts, created, counts.newest + 2)
    assert counts.lag_buckets == {}
    assert batch_line(12, counts, 1.26) == ("batch 12: | INSERT | 2 | MODIFY | 2 | REMOVE | 1 |  "
                                            "lag n/a (record times are whole minutes)")


def test_the_batch_line_has_the_lag_of_the_newest_record_and_of_every_record():
    rows = [Row(record(i, f"k{i}")) for i in range(10)]
    for i, row in enumerate(rows):
        row.approximate_creation_time = datetime(2026, 1, 1, 0, 0, i, 500_000, tzinfo=timezone.utc)
    _, counts, created = last_changes(rows, {})
    record_lags(counts, created, datetime(2026, 1, 1, 0, 0, 10, tzinfo=timezone.utc).timestamp())
    assert counts.lags.total == 10
    line = batch_line(12, counts, 0.5)
    assert line == "batch 12: | INSERT | 0 | MODIFY | 10 | REMOVE | 0 |  lag 0.5 s (p50 4.7 s, p99 9.7 s)"  # lags 0.5 .. 9.5 s
    total = BatchCounts()
    total.add(counts)
    total.add(counts)
    assert total.lags.total == 20 and total.records == 20


def test_keys_compare_by_value_and_renames_apply():
    one = record(1, "x", "INSERT")
    two = record(2, "x", "MODIFY")
    one["dynamodb"]["Keys"] = {"n": {"N": "1.50"}}
    two["dynamodb"]["Keys"] = {"n": {"N": "1.5"}}
    changes, _, _ = last_changes([Row(one), Row(two)], {"n": "id", "v": "value"})
    (change,) = changes
    assert change.sequence == 2 and change.keys == {"id": {"N": "1.5"}} and "value" in change.image


def test_lag_quantiles_are_exact_to_five_percent_and_merge():
    lags = LagHistogram()
    lags.add_all([0.001, 0.3, 0.5, 0.7, 1.0, 2.0, 3.0, 10.0, 60.0, -1.0])
    assert lags.total == 10
    for q, exact in ((0.5, 0.7), (0.9, 10.0), (0.1, 0.0)):  # ranks 5, 9 and 1 of 10
        got = lags.quantile(q)
        assert exact <= got <= max(exact * 1.05, 0.01), (q, got)
    other = LagHistogram.from_dict(lags.as_dict())
    other.merge(lags)
    assert other.total == 20 and other.quantile(0.5) == lags.quantile(0.5)
    assert LagHistogram().quantile(0.99) is None
    assert all(upper_bound(bucket(x)) >= x > upper_bound(bucket(x) - 1) for x in (0.02, 1.0, 3.7, 86400.0))


def test_a_filter_turns_the_last_change_of_an_item_that_no_longer_matches_into_a_delete():
    from migrator.conditions import parse_filter

    keep = parse_filter("v >= :min", values={":min": {"N": "10"}}).matches
    rows = [Row(record(1, "in", "INSERT", 5)), Row(record(2, "in", "MODIFY", 50)),    # starts matching
            Row(record(3, "out", "INSERT", 50)), Row(record(4, "out", "MODIFY", 7)),  # stops matching
            Row(record(5, "never", "INSERT", 1)), Row(record(6, "gone", "REMOVE"))]
    changes, counts, _ = last_changes(rows, {"v": "value"}, keep=keep)
    by_key = {c.keys["pk"]["S"]: c for c in changes}
    assert by_key["in"].image == {"pk": {"S": "in"}, "value": {"N": "50"}}   # tested before the rename
    assert by_key["out"].is_delete and by_key["never"].is_delete and by_key["gone"].is_delete
    assert counts.filtered == 2 and counts.records == 6
    assert batch_line(3, counts, None).endswith("|  not matching the filter: 2 (deleted)")
