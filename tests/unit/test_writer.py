"""DynamoDBWriter against a fake client: retries, unprocessed items, refused items, marks."""

from __future__ import annotations

import random
import threading

import pytest
from botocore.exceptions import ClientError

from migrator.deadletter import DeadLetterWriter, read_dead_letters
from migrator.errors import TargetError
from migrator.targets.dynamodb.writer import DynamoDBWriter
from migrator.throttle import Backoff

TABLE = "target_table"


def client_error(code, status=400, message="injected"):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "BatchWriteItem")


class FakeDynamoDB:
    """Stores written items by key; answers from a script of faults, then normally.

    Script entries: "throttle", "transient", "partial" (write the first half, return the rest
    as unprocessed), or a callable(requests) -> exception or None.
    """

    def __init__(self, script=(), refuse=lambda item: None):
        self.items = {}
        self.calls = 0
        self.script = list(script)
        self.refuse = refuse
        self.lock = threading.Lock()

    def batch_write_item(self, RequestItems, **kwargs):
        (table, requests), = RequestItems.items()
        assert table == TABLE
        assert len(requests) <= 25
        with self.lock:
            self.calls += 1
            step = self.script.pop(0) if self.script else None
        if step == "throttle":
            raise client_error("ProvisionedThroughputExceededException")
        if step == "transient":
            raise client_error("InternalServerError", 500)
        if len(requests) > 1 or step == "partial":
            for r in requests:
                reason = self.refuse(r)
                if reason:
                    raise client_error("ValidationException", message=reason)
        else:
            reason = self.refuse(requests[0])
            if reason:
                raise client_error("ValidationException", message=reason)
        keys = [tuple(sorted((k, v["S"]) for k, v in (r.get("PutRequest", {}).get("Item") or r["DeleteRequest"]["Key"]).items() if k == "pk")) for r in requests]
        assert len(set(keys)) == len(keys), "duplicate keys in one batch"
        done, rest = (requests[: len(requests) // 2], requests[len(requests) // 2:]) if step == "partial" else (requests, [])
        with self.lock:
            for r in done:
                if "PutRequest" in r:
                    item = r["PutRequest"]["Item"]
                    self.items[item["pk"]["S"]] = item
                else:
                    self.items.pop(r["DeleteRequest"]["Key"]["pk"]["S"], None)
        return {"UnprocessedItems": {TABLE: rest} if rest else {},
                "ConsumedCapacity": [{"TableName": TABLE, "CapacityUnits": float(len(done))}]}


def writer(client, **kwargs):
    kwargs.setdefault("backoff", Backoff(base=0.001, cap=0.002, rng=random.Random(1)))
    kwargs.setdefault("sleep", lambda s: None)
    return DynamoDBWriter(client, TABLE, ["pk"], **kwargs)


def items(n, start=0):
    return [{"pk": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(start, start + n)]


def test_every_item_is_written_through_throttles_partials_and_transient_errors():
    script = ["throttle", "partial", "throttle", "throttle", "transient", "partial", "partial"] * 20
    client = FakeDynamoDB(script)
    with writer(client, concurrency=3) as w:
        for item in items(1000):
            w.put(item)
        w.flush()
    assert len(client.items) == 1000
    assert w.stats.puts == 1000
    assert w.stats.throttles == 60 and w.stats.unprocessed > 0 and w.stats.transient_errors == 20


def test_deletes_remove_items():
    client = FakeDynamoDB()
    with writer(client) as w:
        for item in items(30):
            w.put(item)
        w.flush()
        for i in range(10):
            w.delete({"pk": {"S": f"k{i}"}})
        w.flush()
    assert sorted(client.items) == sorted(f"k{i}" for i in range(10, 30))
    assert w.stats.deletes == 10


def test_persistent_transient_errors_fail_with_the_table_named():
    client = FakeDynamoDB(["transient"] * 50)
    w = writer(client, max_transient=3)
    w.put(items(1)[0])
    with pytest.raises(TargetError, match=r"writes to 'target_table' keep failing after 4 attempts"):
        w.flush()
    w.close()


def test_a_refused_item_fails_the_task_naming_its_key_without_dead_letter():
    client = FakeDynamoDB(refuse=lambda r: "Item size has exceeded the maximum allowed size"
                          if r["PutRequest"]["Item"]["pk"]["S"] == "k7" else None)
    w = writer(client)
    for item in items(20):
        w.put(item)
    with pytest.raises(TargetError, match=r"refused the item with key \{pk='k7' \(S\)\}: .*maximum allowed size") as info:
        w.flush()
    assert info.value.key == {"pk": {"S": "k7"}}
    w.close()


def test_refused_items_go_to_the_dead_letter_and_the_rest_is_written(tmp_path):
    client = FakeDynamoDB(refuse=lambda r: "Type mismatch for Index Key"
                          if r["PutRequest"]["Item"]["pk"]["S"] in ("k3", "k17") else None)
    dead = DeadLetterWriter(str(tmp_path), "t")
    with writer(client, dead_letter=dead) as w:
        for item in items(40):
            w.put(item)
        w.flush()
    dead.close()
    assert len(client.items) == 38
    assert w.stats.dead_lettered == 2
    records = read_dead_letters(str(tmp_path))
    assert sorted(r["key"]["pk"]["S"] for r in records) == ["k17", "k3"]
    assert all("Type mismatch" in r["reason"] and r["table"] == TABLE for r in records)
    assert records[0]["item"]["v"]["N"] in ("3", "17")


def test_marks_commit_only_when_every_earlier_batch_is_acknowledged():
    release = threading.Event()
    first_batch = threading.Event()

    class Slow(FakeDynamoDB):
        def batch_write_item(self, RequestItems, **kwargs):
            (_, requests), = RequestItems.items()
            if requests[0]["PutRequest"]["Item"]["pk"]["S"] == "k0":
                first_batch.set()
                release.wait(10)
            return super().batch_write_item(RequestItems, **kwargs)

    client = Slow()
    with writer(client, concurrency=4) as w:
        for item in items(25):
            w.put(item)   # batch 0 (slow)
        w.mark("page-1")
        for item in items(30, 25):
            w.put(item)   # batch 1 full, batch 2 partial (5 items still buffered)
        w.mark("page-2")
        first_batch.wait(10)
        assert w.committed() is None  # batch 0 still in flight
        release.set()
        w.flush()
        assert w.committed() == "page-2"


def test_a_mark_waits_for_its_buffered_partial_batch():
    client = FakeDynamoDB()
    with writer(client) as w:
        for item in items(5):
            w.put(item)
        w.mark("p1")
        assert w.committed() is None  # the 5 items are not even sent yet
        w.flush()
        assert w.committed() == "p1"


def test_dedupe_keeps_two_changes_of_one_key_out_of_one_batch():
    client = FakeDynamoDB()
    with writer(client, dedupe=True) as w:
        w.put({"pk": {"S": "a"}, "v": {"N": "1"}})
        w.put({"pk": {"S": "b"}, "v": {"N": "1"}})
        w.put({"pk": {"S": "a"}, "v": {"N": "2"}})
        w.flush()
    assert client.items["a"]["v"] == {"N": "2"}
    assert client.calls == 2


def test_write_capacity_is_charged_to_the_limiter():
    from migrator.throttle import RateLimiter

    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    limiter = RateLimiter(rate=100.0, now=0.0)
    client = FakeDynamoDB()
    with writer(client, limiter=limiter, clock=lambda: clock[0], sleep=sleep, concurrency=1) as w:
        for item in items(500):
            w.put(item)
        w.flush()
    assert w.stats.consumed == 500
    assert sum(slept) == pytest.approx(4.0, abs=0.3)  # 500 WCU at 100/s, 1 s of burst
