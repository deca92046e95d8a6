"""MongoDB document -> DynamoDB item (a mongodb source into a DynamoDB-compatible target): every BSON type under
every policy, keys from _id, the way back of the DynamoDB-to-MongoDB mapping, and the writer that dead-letters."""

from __future__ import annotations

import datetime

import bson
import pytest
from bson import Binary, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.raw_bson import RawBSONDocument
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.datagen import EDGE_NUMBERS, normalize
from migrator.config import ConfigError, parse_config
from migrator.errors import ConversionError, TargetError
from migrator.sources.mongodb.item_writer import ItemWriter
from migrator.sources.mongodb.items import UNCONVERTIBLE, ItemMapping, unconvertible
from migrator.targets.mongodb.documents import BsonPolicy, from_document, to_document
from migrator.targets.pipeline import WriteStats
from tests.unit.test_convert_bson import names, numbers, values

PLAIN = ItemMapping()
COMPOSITE = ItemMapping(key=(("pk", "_id.pk"), ("sk", "_id.sk")))


def raw(document):
    return RawBSONDocument(bson.encode(document))


def test_bson_scalars_become_dynamodb_values():
    item = PLAIN.item(raw({"_id": "a", "s": "", "i32": 7, "i64": Int64(-2**63), "dbl": 0.1, "big": 1e120,
                           "dec": Decimal128("-1.50E-20"), "bin": Binary(b"\x00\xff", 0), "t": True, "n": None,
                           "l": [1, [], {}], "m": {"x": {"y": "z"}}}))
    assert item == {"_id": {"S": "a"}, "s": {"S": ""}, "i32": {"N": "7"}, "i64": {"N": str(-2**63)},
                    "dbl": {"N": "0.1"}, "big": {"N": "1E+120"}, "dec": {"N": "-1.50E-20"},
                    "bin": {"B": b"\x00\xff"}, "t": {"BOOL": True}, "n": {"NULL": True},
                    "l": {"L": [{"N": "1"}, {"L": []}, {"M": {}}]}, "m": {"M": {"x": {"M": {"y": {"S": "z"}}}}}}


@pytest.mark.parametrize("value, reason", [
    (float("nan"), "f: nan has no DynamoDB number"),
    (float("-inf"), "f: -inf has no DynamoDB number"),
    (Decimal128("Infinity"), "f: Infinity has no DynamoDB number"),
    (Decimal128("1E+6000"), "f: 1E+6000 is outside DynamoDB's number range"),
    (Decimal128("1E-131"), "f: 1E-131 is outside DynamoDB's number range"),
    ([1, ObjectId("5f0000000000000000000000")], "f[1]: ObjectId 5f0000000000000000000000 has no DynamoDB type; set "
                                                "source.types.objectId: string"),
    ({"when": datetime.datetime(2026, 1, 1)}, "f.when: a date has no DynamoDB type; set source.types.date"),
    (Binary(b"0123456789abcdef", 4), "f: a Binary has no DynamoDB type; set source.types.other: string"),
    (Timestamp(5, 1), "f: a Timestamp has no DynamoDB type"),
    (Regex("^a", "i"), "f: a Regex has no DynamoDB type"),
    (MinKey(), "f: a MinKey has no DynamoDB type"),
    ({"__dynamodb_set__": "SS", "values": [1]}, "f[0]: a SS set holds number"),
    ({"__dynamodb_set__": "NS", "values": []}, "f: an empty NS set (DynamoDB has none)"),
])
def test_what_dynamodb_cannot_hold_is_refused_naming_the_field(value, reason):
    with pytest.raises(ConversionError) as err:
        PLAIN.item(raw({"_id": 1, "f": value}))
    assert str(err.value).startswith(reason)


def test_types_policies_say_what_other_values_become():
    mapping = ItemMapping(object_id="string", date="string", other="string")
    when = datetime.datetime(2026, 12, 7, 21, 30, 5, 123456)
    item = mapping.item(raw({"_id": ObjectId("5f00000000000000000000aa"), "at": when, "u": Binary(b"\x01" * 16, 4),
                             "ts": Timestamp(5, 1), "re": Regex("^a", "i"), "hi": MaxKey()}))
    assert item == {"_id": {"S": "5f00000000000000000000aa"}, "at": {"S": "2026-12-07T21:30:05.123Z"},
                    "u": {"S": '{"$binary": {"base64": "AQEBAQEBAQEBAQEBAQEBAQ==", "subType": "04"}}'},
                    "ts": {"S": '{"$timestamp": {"t": 5, "i": 1}}'},
                    "re": {"S": '{"$regularExpression": {"pattern": "^a", "options": "i"}}'},
                    "hi": {"S": '{"$maxKey": 1}'}}
    as_number = ItemMapping(date="number").item(raw({"_id": 1, "at": when}))
    assert as_number["at"] == {"N": "1796679005123"}


def test_keys_come_from_the_id():
    assert COMPOSITE.item(raw({"_id": {"pk": "a", "sk": Int64(2)}, "pk": "a", "sk": 2, "v": "x"})) == {
        "pk": {"S": "a"}, "sk": {"N": "2"}, "v": {"S": "x"}}
    # The key attributes are taken from _id even when the document lacks them as fields.
    assert COMPOSITE.item(raw({"_id": {"sk": 1.5, "pk": b"k"}})) == {"pk": {"B": b"k"}, "sk": {"N": "1.5"}}
    assert ItemMapping(key=(("id", "_id"),), object_id="string").key_of(ObjectId("5f00000000000000000000aa")) == {
        "id": {"S": "5f00000000000000000000aa"}}


@pytest.mark.parametrize("document, mapping, reason", [
    ({"_id": ObjectId("5f00000000000000000000aa")}, PLAIN, "_id: ObjectId 5f00000000000000000000aa has no DynamoDB"),
    ({"_id": ""}, PLAIN, "_id: an empty string cannot be a key attribute ('_id')"),
    ({"_id": {"a": 1}}, PLAIN, "_id: a key attribute ('_id') is a string, a number or a binary in DynamoDB, not map"),
    ({"_id": True}, PLAIN, "_id: a key attribute ('_id') is a string, a number or a binary in DynamoDB, not boolean"),
    ({"_id": "a"}, COMPOSITE, "_id \"a\" has no field 'pk' for the key attribute 'pk' (source.key)"),
    ({"_id": {"pk": "a"}}, COMPOSITE, "_id {\"pk\": \"a\"} has no field 'sk'"),
    ({"_id": {"pk": "a", "sk": 1}, "sk": 2}, COMPOSITE,
     "field 'sk' holds '2' (N) but the key takes '1' (N) from _id.sk"),
    ({"_id": "a", "\uff3fid": "b"}, PLAIN, "field '_id' holds 'b' (S) but the key takes 'a' (S) from _id"),
    ({"_id": "a", "x.y": 1, "x\uff0ey": 2}, PLAIN, "two fields become the attribute 'x.y'"),
    ({"x": 1}, PLAIN, "the document has no _id"),
])
def test_documents_without_a_usable_key_are_refused(document, mapping, reason):
    with pytest.raises(ConversionError) as err:
        mapping.item(raw(document))
    assert str(err.value).startswith(reason)


def test_escaped_names_are_restored_unless_kept_and_dropped_fields_are_left_out():
    document = raw({"_id": 1, "a\uff0eb": 1, "\uff04c": {"d\uff0ee": 2}, "\uff3fid": "x", "expireAt": 3})
    assert ItemMapping(key=(("id", "_id"),), drop_fields=frozenset({"expireAt"})).item(document) == {
        "id": {"N": "1"}, "a.b": {"N": "1"}, "$c": {"M": {"d.e": {"N": "2"}}}, "_id": {"S": "x"}}
    kept = ItemMapping(key=(("id", "_id"),), field_names="keep").item(document)
    assert set(kept) == {"id", "a\uff0eb", "\uff04c", "\uff3fid", "expireAt"}


def test_the_validator_sees_an_unconvertible_document_as_a_difference():
    marked = unconvertible(COMPOSITE, raw({"_id": {"pk": "a", "sk": 1}}), "f: nan has no DynamoDB number")
    assert marked == {"pk": {"S": "a"}, "sk": {"N": "1"}, UNCONVERTIBLE: {"S": "f: nan has no DynamoDB number"}}
    marked = unconvertible(COMPOSITE, raw({"_id": "a"}), "no key")
    assert marked["pk"] == marked["sk"] == {"S": '_id "a"'}


def test_id_filters_match_every_value_a_key_may_have_been():
    mapping = ItemMapping(key=(("id", "_id"),), object_id="string", date="number")
    found = mapping.id_filter([{"id": {"S": "5f00000000000000000000aa"}}, {"id": {"N": "3"}}, {"id": {"B": b"k"}}])
    assert found == {"$or": [
        {"_id": {"$in": ["5f00000000000000000000aa", ObjectId("5f00000000000000000000aa")]}},
        {"_id": {"$in": [Decimal128("3"), Int64(3), bson.DatetimeMS(3), 3.0]}},
        {"_id": {"$in": [Binary(b"k", 0)]}}]}
    assert COMPOSITE.id_filter([{"pk": {"S": "a"}, "sk": {"N": "0.1"}}]) == {
        "$or": [{"_id.pk": {"$in": ["a"]}, "_id.sk": {"$in": [Decimal128("0.1"), 0.1]}}]}


# -- property: an item written to MongoDB by this project comes back as the same item ------------------------

@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=10), numbers, st.dictionaries(names.filter(lambda n: n not in ("pk", "sk")),
                                                                  values, max_size=6))
def test_items_come_back_from_mongodb_exactly(pk, sk, rest):
    item = {**rest, "pk": {"S": pk}, "sk": {"N": sk}}
    document = raw(to_document(item, ["pk", "sk"], BsonPolicy(sets="tagged")))
    assert normalize(COMPOSITE.item(document)) == normalize(item)
    hash_only = {**rest, "pk": {"S": pk}}
    document = raw(to_document(hash_only, ["pk"], BsonPolicy(sets="tagged")))
    assert normalize(ItemMapping(key=(("pk", "_id"),)).item(document)) == normalize(hash_only)


def test_numbers_beyond_decimal128_come_back_as_numbers_when_tagged():
    item = {"pk": {"S": "a"}, "n": {"N": EDGE_NUMBERS[0]}, "ns": {"NS": ["1", EDGE_NUMBERS[1]]},
            "m": {"M": {"x": {"L": [{"N": EDGE_NUMBERS[5]}]}}}}
    policy = BsonPolicy(sets="tagged", on_overflow="tagged")
    document = to_document(item, ["pk"], policy)
    assert document["n"] == {"__dynamodb_number__": EDGE_NUMBERS[0]}
    assert normalize(ItemMapping(key=(("pk", "_id"),)).item(raw(document))) == normalize(item)
    assert normalize(from_document(bson.decode(bson.encode(document)), policy)) == normalize(item)
    with pytest.raises(ConversionError, match=r"^n: 'x' is kept as a number's text but is not a number"):
        PLAIN.item(raw({"_id": 1, "n": {"__dynamodb_number__": "x"}}))


# -- the writer --------------------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.puts, self.deletes, self.stats = [], [], WriteStats(dead_lettered=1)

    def put(self, item):
        self.puts.append(item)

    def delete(self, key):
        self.deletes.append(key)


class Letters:
    def __init__(self):
        self.documents = []

    def write_document(self, table, document, reason):
        self.documents.append((table, dict(document["_id"]), reason))


def test_the_writer_maps_documents_and_dead_letters_what_cannot_be_an_item():
    inner, letters = Recorder(), Letters()
    writer = ItemWriter(inner, COMPOSITE, letters, "orders")
    writer.put(raw({"_id": {"pk": "a", "sk": 1}, "v": 1}))
    writer.put(raw({"_id": {"pk": "b", "sk": 2}, "v": float("nan")}))
    writer.delete(raw({"_id": {"pk": "c", "sk": 3}}))
    writer.delete(raw({"_id": "no key"}))  # never written, nothing to delete
    assert inner.puts == [{"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "1"}}]
    assert inner.deletes == [{"pk": {"S": "c"}, "sk": {"N": "3"}}]
    assert letters.documents == [("orders", {"pk": "b", "sk": 2}, "v: nan has no DynamoDB number")]
    assert writer.stats.dead_lettered == 2  # the target's own refusal and this one
    with pytest.raises(TargetError, match="cannot be an item of 'orders': v: nan .* set deadLetter.path"):
        ItemWriter(Recorder(), COMPOSITE, None, "orders").put(raw({"_id": {"pk": "b", "sk": 2}, "v": float("nan")}))


# -- the configuration -------------------------------------------------------------------------------------

MONGO = {"type": "mongodb", "uri": "mongodb://db1/", "database": "shop", "collection": "orders"}
DYNAMO = {"type": "dynamodb", "table": "orders", "region": "us-east-1"}


def problems_of(source, target=DYNAMO):
    with pytest.raises(ConfigError) as err:
        parse_config({"source": {**MONGO, **source}, "target": target})
    return err.value.problems


def test_the_key_mapping_configuration():
    config = parse_config({"source": {**MONGO, "key": {"pk": "_id.pk", "sk": "_id.sk"}, "types": {"objectId": "string"},
                                      "dropFields": ["expireAt"]}, "target": DYNAMO})
    mapping = ItemMapping.from_config(config.source)
    assert (mapping.key, mapping.object_id, mapping.drop_fields) == (
        (("pk", "_id.pk"), ("sk", "_id.sk")), "string", frozenset({"expireAt"}))
    assert ItemMapping.from_config(parse_config({"source": MONGO, "target": DYNAMO}).source).key == (("_id", "_id"),)
    assert problems_of({"key": {"a": "_id.a", "b": "_id.b", "c": "_id.c"}}) == [
        "source.key: a DynamoDB key has a hash attribute and at most a range attribute; got 3"]
    assert problems_of({"key": {"a": "_id", "b": "_id.b"}})[0].startswith(
        "source.key: a key of two attributes takes them from two fields of _id")
    assert problems_of({"key": {"a": "_id.x", "b": "_id.x"}})[0].startswith("source.key: the hash and range")
    assert "source.key.pk" in str(problems_of({"key": {"pk": "pk"}}))
    mongo_target = {"type": "mongodb", "uri": "mongodb://h2/", "database": "copy"}
    assert problems_of({"key": {"pk": "_id"}, "dropFields": ["x"]}, mongo_target) == [
        "source.key: maps documents to DynamoDB items; a mongodb target takes the documents exactly as they are; "
        "remove source.key",
        "source.dropFields: maps documents to DynamoDB items; a mongodb target takes the documents exactly as they "
        "are; remove source.dropFields"]
