"""A MongoDB source, in pure logic: ``_id`` ranges across type classes, resume tokens, change events as rows,
the stream's failures, the position a savepoint pins, and the configuration's rules."""

from __future__ import annotations

import datetime
from types import SimpleNamespace

import bson
import pytest
from bson.raw_bson import RawBSONDocument
from pydantic import SecretStr
from pymongo.errors import OperationFailure

from migrator.changes import last_changes
from migrator.config import parse_config
from migrator.errors import ConfigError, SourceError, StreamTrimmedError
from migrator.sources.mongodb.backend import RawBsonChanges, pinned_time, stream_id
from migrator.sources.mongodb.change_stream import (ChangeSpan, StreamSettings, change_row, read_span,
                                                    token_time)
from migrator.sources.mongodb.ranges import OPEN, bounds, decode_id, encode_id, range_filter, type_class

NUMBERS = ["int", "long", "double", "decimal"]


def test_a_range_within_one_type_class_is_one_comparison():
    assert range_filter(5, bson.Int64(9)) == {"_id": {"$gte": 5, "$lt": 9}}
    assert range_filter("a", "m", low_inclusive=False) == {"_id": {"$gt": "a", "$lt": "m"}}
    assert range_filter() == {}


def test_a_range_across_classes_names_its_ends_and_everything_between():
    oid = bson.ObjectId("6b16f48df1a9f1af673db807")
    found = range_filter(5, oid)
    assert found == {"$or": [
        {"_id": {"$gte": 5, "$type": NUMBERS}},
        # strings, objects, arrays and binary sort between: "not" the others, so that deprecated types are in
        {"_id": {"$not": {"$type": ["minKey", "null"] + NUMBERS + ["objectId", "bool", "date", "timestamp", "regex",
                                                                   "maxKey"]}}},
        {"_id": {"$lt": oid, "$type": ["objectId"]}},
    ]}
    # Adjacent classes: nothing between them.
    assert range_filter(5, "a") == {"$or": [{"_id": {"$gte": 5, "$type": NUMBERS}},
                                            {"_id": {"$lt": "a", "$type": ["string"]}}]}


def test_open_ends_and_the_null_id():
    # The first segment: every class below the bound's, and its part below the bound.
    assert range_filter(OPEN, 5) == {"$or": [{"_id": {"$not": {"$type": NUMBERS + [
        "string", "object", "array", "binData", "objectId", "bool", "date", "timestamp", "regex", "maxKey"]}}},
        {"_id": {"$lt": 5, "$type": NUMBERS}}]}
    # null is the only value of its class: as a bound it is the class itself, and nothing follows it there.
    assert range_filter(None, OPEN)["$or"][0] == {"_id": {"$type": ["null"]}}
    assert range_filter(None, 5, low_inclusive=False) == {"_id": {"$lt": 5, "$type": NUMBERS}}
    assert bounds([None, 5], 0) == (OPEN, None) and bounds([None, 5], 2) == (5, OPEN)


def test_type_classes_follow_mongodbs_order():
    values = [bson.MinKey(), None, 1, 2.5, bson.Int64(3), bson.Decimal128("4"), "s", {"a": 1}, b"x",
              bson.ObjectId(), True, datetime.datetime(2020, 1, 1), bson.Timestamp(1, 1), bson.MaxKey()]
    classes = [type_class(v) for v in values]
    assert classes == sorted(classes)
    assert type_class(1) == type_class(bson.Decimal128("1")) and type_class(True) != type_class(1)
    with pytest.raises(SourceError, match="scanSegments: 1"):
        type_class(bson.Code("function() {}"))


def test_ids_keep_their_exact_type_through_a_savepoint():
    for value in (bson.Int64(7), 7, 7.0, bson.Decimal128("7.00"), "7", bson.ObjectId(), {"b": 1, "a": 2},
                  bson.Binary(b"\x00", 4), datetime.datetime(2024, 5, 1, 12, 0, 0, 123000), None):
        back = decode_id(encode_id(value))
        assert bson.encode({"_id": back}) == bson.encode({"_id": value}), value


def test_resume_tokens_of_mongodb_and_of_mongo_java_server_tell_their_time():
    assert token_time({"_data": "82" + "6B16F420" + "0000000F" + "2B022C0100296E5A1004"}) == (0x6B16F420, 15)
    assert token_time({"_data": "6b16f4200000000f"}) == (0x6B16F420, 15)
    assert token_time({"_data": "zz"}) is None and token_time(None) is None


def event(kind, doc=None, key=None, t=100, i=1, wall=None):
    found = {"operationType": kind, "clusterTime": bson.Timestamp(t, i), "documentKey": key,
             "fullDocument": RawBSONDocument(bson.encode(doc)) if doc is not None else None}
    if wall:
        found["wallTime"] = wall
    return found


def row_of(e, n=0):
    return change_row(e, e["operationType"], n, "shop.orders", bson.encode, RawBSONDocument)


def test_change_events_become_rows_with_the_whole_document_as_raw_bson():
    doc = {"_id": bson.ObjectId(), "n": bson.Int64(1), "d": bson.Decimal128("1.10")}
    name, keys, image, sequence, shard, created = row_of(event("insert", doc, {"_id": doc["_id"]}), 3)
    assert (name, sequence, shard) == ("INSERT", "3", "shop.orders")
    assert keys == bson.encode({"_id": doc["_id"]}) and image == bson.encode(doc)
    assert created == datetime.datetime.fromtimestamp(100, datetime.timezone.utc)
    # An update's key comes from its document (mongo-java-server puts the update itself in documentKey).
    updated = row_of(event("update", doc, {"$set": {"n": 2}}, wall=datetime.datetime(2026, 1, 1, 0, 0, 1, 500000)))
    assert updated[0] == "MODIFY" and updated[1] == keys and updated[5].microsecond == 500000
    assert row_of(event("replace", doc, {"_id": doc["_id"]}))[0] == "MODIFY"
    assert row_of(event("delete", key={"_id": doc["_id"]}))[:3] == ("REMOVE", keys, None)
    # Updated, then deleted before the read: nothing to put (the delete follows in the stream).
    assert row_of(event("update", None, {"_id": doc["_id"]})) is None
    assert row_of(event("createIndexes")) is None


class FakeStream:
    def __init__(self, events, fail=None):
        self.events, self.fail, self.resume_token = list(events), fail, None

    def __enter__(self):
        if self.fail:
            raise self.fail
        return self

    def __exit__(self, *exc):
        return False

    def try_next(self):
        if not self.events:
            return None
        found = self.events.pop(0)
        self.resume_token = {"_data": f"{found['clusterTime'].time:08x}{found['clusterTime'].inc:08x}"}
        return found


def fake_client(stream, seen=None):
    def watch(**options):
        if seen is not None:
            seen.update(options)
        return stream
    collection = SimpleNamespace(watch=watch)
    return {"shop": {"orders": collection}}


SETTINGS = StreamSettings(SecretStr("mongodb://u:secret@h/"), "shop", "orders")


def test_a_span_reads_after_its_start_up_to_its_end_in_stream_order():
    docs = [{"_id": n} for n in range(4)]
    events = [event("insert", d, {"_id": d["_id"]}, i=n + 1) for n, d in enumerate(docs)]
    seen = {}
    rows = list(read_span(SETTINGS, ChangeSpan((100, 0), (100, 3)), fake_client(FakeStream(events), seen)))
    assert [r[3] for r in rows] == ["0", "1", "2"]  # the fourth is past the end: the next batch's
    assert seen["start_at_operation_time"] == bson.Timestamp(100, 1) and seen["full_document"] == "updateLookup"


def test_a_stream_that_stops_short_of_its_end_fails_instead_of_holding_the_batch(monkeypatch):
    class Stuck(FakeStream):
        def try_next(self):
            self.resume_token = {"_data": "0000006400000002"}  # (100, 2): the server gets no further
            return None
    monkeypatch.setattr("migrator.sources.mongodb.change_stream.STALL_SECONDS", 0.0)
    with pytest.raises(SourceError, match="made no progress for 0 s at cluster time 100.2, before its batch's end 100.9"):
        list(read_span(SETTINGS, ChangeSpan((100, 0), (100, 9)), fake_client(Stuck([]))))


def test_a_lost_position_and_a_dropped_collection_stop_replication_with_what_to_do():
    lost = OperationFailure("Resume of change stream was not possible", 286, {"errmsg": "history lost"})
    with pytest.raises(StreamTrimmedError, match=r"shop.orders: the oplog no longer holds the changes after cluster "
                                                 r"time 100.0 .*history lost.*oplogMinRetentionHours.*new snapshot") as err:
        list(read_span(SETTINGS, ChangeSpan((100, 0), (200, 0)), fake_client(FakeStream([], fail=lost))))
    assert "secret" not in str(err.value)
    dropped = [event("drop", t=150)]
    with pytest.raises(SourceError, match="shop.orders was dropped at cluster time 150.1: replication of it ends"):
        list(read_span(SETTINGS, ChangeSpan((100, 0), (200, 0)), fake_client(FakeStream(dropped))))


def test_replication_keeps_the_last_change_of_each_id_compared_by_its_bytes():
    def row(name, _id, doc, n):
        return SimpleNamespace(event_name=name, keys=bytearray(bson.encode({"_id": _id})),
                               new_image=bytearray(bson.encode(doc)) if doc else None, sequence_number=str(n),
                               approximate_creation_time=datetime.datetime(2026, 1, 1, 0, 0, 1))
    rows = [row("INSERT", 1, {"_id": 1, "v": 1}, 0), row("MODIFY", 1, {"_id": 1, "v": 2}, 1),
            row("INSERT", bson.Int64(1), {"_id": bson.Int64(1)}, 2), row("REMOVE", "1", None, 3)]
    changes, counts, _ = last_changes(rows, {}, codec=RawBsonChanges())
    assert (counts.INSERT, counts.MODIFY, counts.REMOVE) == (2, 1, 1)
    # int32 1 and int64 1 are one _id to MongoDB (two byte strings): the later change is the one applied.
    assert [(c.event, c.image.raw if c.image else None) for c in changes] == [
        ("INSERT", bson.encode({"_id": bson.Int64(1)})), ("REMOVE", None)]
    assert RawBsonChanges.identity(RawBSONDocument(bson.encode({"_id": 1.0}))) == ("number", 1)


def test_the_pinned_position_survives_the_savepoint():
    pinned = stream_id("shop.orders", 1796666400, 15)
    assert pinned == "changestream:shop.orders@1796666400.15" and pinned_time(pinned) == (1796666400, 15)
    with pytest.raises(SourceError, match="not a MongoDB change stream position; move the savepoint"):
        pinned_time("arn:aws:dynamodb:us-east-1:1:table/t/stream/x")


MONGO = {"type": "mongodb", "uri": "mongodb://reader:pw@db1/", "database": "shop", "collection": "orders"}


def problems_of(data):
    with pytest.raises(ConfigError) as err:
        parse_config(data)
    return err.value.problems


def test_the_configuration_of_a_mongodb_source():
    config = parse_config({"source": MONGO, "target": {"type": "mongodb", "uri": "mongodb://h2/", "database": "copy",
                                                       "streamChanges": True}, "savepoints": {"path": "/tmp/sp"}})
    assert (config.source.redacted_uri(), config.target_table) == ("mongodb://***@db1/", "orders")
    assert config.checkpoint_location == "/tmp/sp/checkpoints/shop.orders-to-orders"
    found = problems_of({"source": {**MONGO, "uri": "mongo://reader:pw@db1/"},
                         "target": {"type": "dynamodb-s3-export", "path": "/tmp/out"},
                         "renames": [{"from": "a", "to": "b"}]})
    assert found[0] == "source.uri: must start with mongodb:// or mongodb+srv:// (value not shown: it may hold a password)"
    assert found[1].startswith("target.type: a mongodb source is migrated into mongodb, dynamodb or alternator")
    assert found[2].startswith("renames: renames apply to DynamoDB attributes")
    assert not any("pw" in p for p in found)



def test_namespaces_of_a_mongodb_source_under_tables():
    uri_only = {"type": "mongodb", "uri": "mongodb://reader:pw@db1/"}
    target = {"type": "mongodb", "uri": "mongodb://h2/"}
    config = parse_config({"source": uri_only, "target": target, "savepoints": {"path": "/tmp/sp"},
                           "tables": {"include": ["shop.*", "crm.orders"], "exclude": ["*.tmp_*"],
                                      "targetPrefix": "v2_", "overrides": {"crm.orders": {"target": "sales.orders"}}}})
    one = config.for_table("shop.orders", config.tables.target_name("shop.orders"))
    assert (one.source.database, one.source.collection, one.target.database, one.target_table) == (
        "shop", "orders", "v2_shop", "orders")
    assert one.checkpoint_location == "/tmp/sp/checkpoints/shop.orders-to-orders"
    other = config.for_table("crm.orders", config.tables.target_name("crm.orders"))
    assert (other.target.database, other.target_table, other.dead_letter_path) == (
        "sales", "orders", "/tmp/sp/dead-letter/crm.orders-to-sales.orders")
    assert other.checkpoint_location != one.checkpoint_location
    # Into DynamoDB, a namespace names the table.
    into_dynamodb = parse_config({"source": uri_only, "target": {"type": "dynamodb", "region": "us-east-1"},
                                  "tables": ["shop.*"]})
    assert into_dynamodb.for_table("shop.orders", "shop.orders").target_table == "shop.orders"
    assert problems_of({"source": MONGO, "target": {**target, "database": "c"}, "tables": ["orders", "shop.*"]}) == [
        "source.database: with tables, namespaces come from tables.include (<database>.<collection> patterns); "
        "remove source.database",
        "source.collection: with tables, namespaces come from tables.include (<database>.<collection> patterns); "
        "remove source.collection",
        "tables: 'orders' is not a namespace; write <database>.<collection> (patterns too: shop.*)"]
    assert problems_of({"source": uri_only, "target": target}) == [
        "source.database: missing; this setting is required (or list namespaces, <database>.<collection> patterns, "
        "under tables)",
        "source.collection: missing; this setting is required (or list namespaces, <database>.<collection> patterns, "
        "under tables)",
        "target.database: missing; this setting is required"]
    # A target name without a database part needs target.database.
    assert problems_of({"source": uri_only, "target": target, "tables": {"include": ["shop.*"], "overrides": {
        "shop.a": {"target": "plain"}}}}) == ["tables.overrides.shop.a: target.database: missing; this setting is "
                                               "required"]


class _Database:
    def __init__(self, options):
        self.options = options

    def list_collections(self, filter):
        return iter([{"name": filter["name"], "options": self.options}])


def test_full_document_required_needs_the_collections_post_images():
    from migrator.preflight import Prober
    from migrator.sources.mongodb.preflight import images_finding

    config = parse_config({"source": {**MONGO, "fullDocument": "required"},
                           "target": {"type": "mongodb", "uri": "mongodb://h2/", "database": "copy"}})
    found = []
    for options in ({"changeStreamPreAndPostImages": {"enabled": True}}, {}):
        prober = Prober("source", "mongodb://db1/")
        images_finding(prober, {"shop": _Database(options)}, config.source)
        found.append([(f.ok, f.text) for f in prober.findings])
    assert found[0] == [(True, "shop.orders keeps post-images for its change stream (source.fullDocument: required)")]
    assert found[1][0][0] is False and "collMod: \"orders\", changeStreamPreAndPostImages" in found[1][0][1]


class _Ids:
    """A collection of the _ids 0..n-1 whose index walk and $sample fail as asked."""

    full_name = "shop.orders"

    def __init__(self, n, sort_fails=False, sample_fails=0, vector=None):
        self.ids, self.sort_fails, self.sample_fails, self.samples = list(range(n)), sort_fails, sample_fails, 0
        self.vector, self.commands = vector, []
        owner = self

        class Database:
            def command(self, name, namespace, **options):
                owner.commands.append((name, namespace, options))
                if owner.vector is None:
                    raise OperationFailure("no such command: 'splitVector'", code=59)
                return {"splitKeys": [{"_id": key} for key in owner.vector], "ok": 1}

        self.database = Database()

    def find(self, query, projection):
        owner = self

        class Cursor:
            def __init__(self):
                self.at, self.count = 0, None

            def sort(self, *_):
                if owner.sort_fails:
                    raise OperationFailure("Comparison method violates its general contract!")
                return self

            def skip(self, n):
                self.at = n
                return self

            def limit(self, n):
                self.count = n
                return self

            def __iter__(self):
                return iter({"_id": i} for i in owner.ids[self.at:self.at + self.count])

        return Cursor()

    def aggregate(self, pipeline):
        self.samples += 1
        if self.samples <= self.sample_fails:
            raise OperationFailure("Comparison method violates its general contract!")
        return iter({"_id": i} for i in self.ids[: pipeline[0]["$sample"]["size"]])  # a biased "sample"


def test_split_points_are_exact_quantiles_of_the_index_up_to_a_million_documents():
    from migrator.sources.mongodb import ranges

    assert ranges.split_points(_Ids(1000), 4, 1000) == [250, 500, 750]
    # The server cannot sort: a $sample, tried again when it fails.
    collection = _Ids(1000, sort_fails=True, sample_fails=2)
    assert ranges.split_points(collection, 4, 1000) == [32, 64, 96] and collection.samples == 3
    # Neither: the first _ids in natural order (uneven, never missing a document).
    assert ranges.split_points(_Ids(1000, sort_fails=True, sample_fails=3), 2, 1000) == [32]
    # Beyond the limit, a sample first (a walk of the index would cost too much).
    big = _Ids(1000)
    assert ranges.split_points(big, 2, ranges.SKIP_LIMIT + 1) == [32] and big.samples == 1


def test_split_points_come_from_split_vector_where_the_server_allows_it():
    from migrator.sources.mongodb import ranges

    # 15 keys (16 chunks of equal bytes, four a segment), given out of order: every fourth key.
    collection = _Ids(1000, vector=[v * 10 for v in (15, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)])
    assert ranges.split_points(collection, 4, 1000, size_bytes=16_000) == [40, 80, 120]
    assert collection.commands == [("splitVector", "shop.orders", {"keyPattern": {"_id": 1},
                                                                    "maxChunkSizeBytes": 1000})]
    assert collection.samples == 0
    # Fewer keys than asked (a small collection): the points still divide the chunks evenly.
    assert ranges.split_points(_Ids(1000, vector=[300, 600]), 2, 1000, size_bytes=900) == [300]
    # Refused (mongos, no privilege, mongo-java-server) or no keys: the index walk.
    assert ranges.split_points(_Ids(1000), 4, 1000, size_bytes=16_000) == [250, 500, 750]
    assert ranges.split_points(_Ids(1000, vector=[]), 4, 1000, size_bytes=16_000) == [250, 500, 750]
    # Without a size (the validator of a target) it is not asked.
    unsized = _Ids(1000, vector=[500])
    assert ranges.split_points(unsized, 2, 1000) == [500] and unsized.commands == []
