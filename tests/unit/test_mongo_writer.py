"""MongoWriter against a fake collection: retries, refused documents, batch sizes by bytes."""

from __future__ import annotations

import random

import pytest
from pymongo.errors import AutoReconnect, BulkWriteError
from pydantic import SecretStr

from migrator.targets.mongodb.documents import BsonPolicy
from migrator.deadletter import DeadLetterWriter, read_dead_letters
from migrator.errors import TargetError
from migrator.targets.mongodb.writer import DUPLICATE_KEY, MongoTargetSpec, MongoWriter
from migrator.throttle import Backoff


class FakeCollection:
    """Applies ReplaceOne/DeleteOne to a dict; answers from a script of faults first."""

    def __init__(self, script=(), refuse=lambda doc: None):
        self.docs = {}
        self.script = list(script)
        self.refuse = refuse
        self.calls = []

    def bulk_write(self, ops, ordered):
        assert ordered is False
        self.calls.append(len(ops))
        step = self.script.pop(0) if self.script else None
        if step == "reconnect":
            raise AutoReconnect("connection reset")
        errors = []
        for index, op in enumerate(ops):
            doc = getattr(op, "_doc", None)
            _id = op._filter["_id"] if hasattr(op, "_filter") else doc["_id"]
            reason = self.refuse(dict(doc)) if doc is not None else None
            if not hasattr(op, "_filter") and repr(_id) in self.docs:  # an insert of an existing _id
                errors.append({"index": index, "code": DUPLICATE_KEY, "errmsg": "E11000 duplicate key"})
            elif step == "duplicate" and index == 0:
                errors.append({"index": index, "code": DUPLICATE_KEY, "errmsg": "E11000 duplicate key"})
            elif reason:
                errors.append({"index": index, "code": 2, "errmsg": reason})
            elif doc is not None:
                self.docs[repr(_id)] = dict(doc)
            else:
                self.docs.pop(repr(_id), None)
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": []})


class FakeClient:
    def __init__(self, collection):
        self.collection = collection

    def __getitem__(self, name):
        return {"c": self.collection}

    def close(self):
        pass


def writer(collection, dead=None, insert_first=False, **spec_args):
    spec = MongoTargetSpec(SecretStr("mongodb://u:p@h/"), "d", "c", ["pk"], **spec_args)
    return MongoWriter(spec, dead_letter=dead, client=FakeClient(collection), insert_first=insert_first,
                       backoff=Backoff(base=0.001, cap=0.002, rng=random.Random(1)), sleep=lambda s: None)


def items(n):
    return [{"pk": {"S": f"k{i}"}, "v": {"N": str(i)}} for i in range(n)]


def test_a_refused_source_document_is_dead_lettered_as_extended_json(tmp_path):
    import bson
    from bson.raw_bson import RawBSONDocument

    collection = FakeCollection(refuse=lambda doc: "too deep" if doc["_id"] == 2 else None)
    dead = DeadLetterWriter(str(tmp_path), "c")
    with writer(collection, dead) as w:
        for n in range(3):
            w.put(RawBSONDocument(bson.encode({"_id": n, "v": bson.Int64(n)})))
        w.flush()
    dead.close()
    (record,) = read_dead_letters(str(tmp_path))
    assert (record["_id"], record["document"]) == ({"$numberInt": "2"}, {"_id": {"$numberInt": "2"},
                                                                         "v": {"$numberLong": "2"}})
    assert "MongoDB refused it: too deep" in record["reason"] and w.stats.dead_lettered == 1


def test_everything_is_written_through_reconnects_and_duplicate_key_races():
    collection = FakeCollection(["reconnect", "duplicate", "reconnect"])
    with writer(collection, batch_size=40) as w:
        for item in items(100):
            w.put(item)
        w.flush()
    assert len(collection.docs) == 100 and w.stats.puts == 100 and w.stats.transient_errors == 2


def test_batches_are_cut_by_bytes_as_well_as_count():
    collection = FakeCollection()
    big = [{"pk": {"S": f"k{i}"}, "blob": {"B": b"x" * 3000}} for i in range(10)]
    with writer(collection, batch_size=1000, batch_bytes=10_000) as w:
        for item in big:
            w.put(item)
        w.flush()
    assert max(collection.calls) == 3 and sum(collection.calls) == 10


def test_refused_documents_are_dead_lettered_and_the_rest_written(tmp_path):
    collection = FakeCollection(refuse=lambda doc: "field name starts with $" if doc["pk"] == "k3" else None)
    dead = DeadLetterWriter(str(tmp_path), "c")
    with writer(collection, dead) as w:
        for item in items(10):
            w.put(item)
        w.delete({"pk": {"S": "k9"}})
        w.flush()
    dead.close()
    (record,) = read_dead_letters(str(tmp_path))
    assert record["key"] == {"pk": {"S": "k3"}} and "MongoDB refused it: field name starts with $ (code 2)" in record["reason"]
    assert sorted(collection.docs) == sorted(repr(f"k{i}") for i in range(9) if i != 3)
    assert (w.stats.puts, w.stats.deletes, w.stats.dead_lettered) == (9, 1, 1)


def test_persistent_connection_failures_fail_the_task():
    collection = FakeCollection(["reconnect"] * 20)
    w = writer(collection)
    w.put(items(1)[0])
    with pytest.raises(TargetError, match="writes to d.c keep failing after 11 attempts"):
        w.flush()
    w.close()


def test_numbers_kept_as_text_are_counted():
    collection = FakeCollection()
    with writer(collection, policy=BsonPolicy(on_overflow="string")) as w:
        w.put({"pk": {"S": "a"}, "n": {"N": "12345678901234567890123456789012345678"}})
        w.flush()
    assert w.notes.numbers_as_strings == 1 and collection.docs[repr("a")]["n"] == "12345678901234567890123456789012345678"


def test_the_spec_never_shows_the_password():
    spec = MongoTargetSpec(SecretStr("mongodb://app:s3cret@h/"), "d", "c", ["pk"], redacted_uri="mongodb://***@h/")
    assert "s3cret" not in repr(spec) and "s3cret" not in spec.describe()


def test_snapshot_inserts_first_and_replaces_documents_that_exist():
    collection = FakeCollection()
    collection.docs[repr("k1")] = {"_id": "k1", "v": "stale, from an interrupted run"}
    with writer(collection, insert_first=True) as w:
        for item in items(5):
            w.put(item)
        w.flush()
    assert collection.docs[repr("k1")]["v"] == 1 and len(collection.docs) == 5
    assert w.stats.puts == 5 and collection.calls == [5, 1]  # one insert batch, then the replace


def test_task_writers_share_one_client_per_process_and_leave_it_open():
    def spec(uri, concurrency=4):
        return MongoTargetSpec(SecretStr(uri), "d", "c", ["pk"], concurrency=concurrency)

    first, second = spec("mongodb://localhost:1/").writer(None), spec("mongodb://localhost:1/").writer(None)
    try:
        assert first._client is second._client  # a replication batch's tasks do not reconnect
        other = spec("mongodb://localhost:2/").shared_client()
        assert other is not first._client and spec("mongodb://localhost:1/", 8).shared_client() is not other
        first.close()
        assert first._client is spec("mongodb://localhost:1/").shared_client()
        assert first._client._closed is False  # close() of a task's writer leaves the shared client open
    finally:
        second.close()
