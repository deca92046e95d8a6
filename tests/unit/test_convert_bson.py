"""DynamoDB item <-> MongoDB document: exact values, deterministic _id, every policy."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import bson
import pytest
from bson import Binary, Decimal128, Int64
from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.datagen import EDGE_NUMBERS, all_types_items, normalize
from migrator.targets.mongodb.documents import (ESCAPED_DOLLAR, ESCAPED_DOT, SET_TAG, BsonPolicy, ConversionNotes,
                                   document_id, from_document, to_document)
from migrator.errors import ConversionError

TAGGED = BsonPolicy(sets="tagged")


def test_scalar_mapping():
    doc = to_document({"pk": {"S": "a"}, "i": {"N": "42"}, "big": {"N": "9223372036854775808"},
                       "d": {"N": "1.50"}, "b": {"B": b"\x00\xff"}, "t": {"BOOL": True}, "z": {"NULL": True},
                       "l": {"L": []}, "m": {"M": {}}}, ["pk"], BsonPolicy())
    assert doc == {"_id": "a", "pk": "a", "i": Int64(42), "big": Decimal128("9223372036854775808"),
                   "d": Decimal128("1.5"), "b": Binary(b"\x00\xff", 0), "t": True, "z": None, "l": [], "m": {}}
    assert type(doc["i"]) is Int64


def test_one_value_gives_one_document_whatever_its_notation():
    """A Scan says 1E-130 where a stream image says 0.000...1: the documents must be equal."""
    for a, b in [("1E-130", "0." + "0" * 129 + "1"), ("1.50", "1.5"), ("9.9E+125", "99" + "0" * 124),
                 ("12345678901234567890123456789012345678", "1.2345678901234567890123456789012345678E+37")]:
        policy = BsonPolicy(on_overflow="string")
        one = to_document({"pk": {"S": "k"}, "n": {"N": a}}, ["pk"], policy)
        two = to_document({"pk": {"S": "k"}, "n": {"N": b}}, ["pk"], policy)
        assert bson.encode(one) == bson.encode(two), (a, b)


@pytest.mark.parametrize("text, expected", [
    ("0", Int64(0)), ("-0", Int64(0)), ("007", Int64(7)), ("-42", Int64(-42)), ("1E+2", Int64(100)),
    ("999999999999999999", Int64(999999999999999999)), ("-999999999999999999", Int64(-999999999999999999)),
    ("9223372036854775807", Int64(2**63 - 1)), ("9223372036854775808", Decimal128("9223372036854775808")),
    ("1.0", Int64(1)), ("1.5", Decimal128("1.5")),
])
def test_integers_take_the_short_way_to_the_same_value(text, expected):
    """Integers of up to 18 characters skip the Decimal; every notation of a number still gives one value."""
    doc = to_document({"pk": {"S": "k"}, "n": {"N": text}}, ["pk"], BsonPolicy())
    assert type(doc["n"]) is type(expected) and doc["n"] == expected


def test_ids_are_deterministic_and_keys_stay_fields():
    item = {"sk": {"N": "7"}, "pk": {"S": "a"}, "v": {"S": "x"}}
    doc = to_document(item, ["pk", "sk"], BsonPolicy())
    assert list(doc["_id"].items()) == [("pk", "a"), ("sk", Int64(7))]  # hash first, whatever the item order
    assert doc["pk"] == "a" and doc["sk"] == 7
    assert document_id({"pk": {"S": "a"}, "sk": {"N": "7.0"}}, ["pk", "sk"], BsonPolicy()) == doc["_id"]
    assert bson.encode({"x": doc["_id"]}) == bson.encode({"x": document_id(item, ["pk", "sk"], BsonPolicy())})
    assert document_id({"k": {"B": b"\x01"}}, ["k"], BsonPolicy()) == Binary(b"\x01", 0)


def test_numbers_beyond_decimal128_follow_the_policy():
    item = {"pk": {"S": "a"}, "n": {"N": EDGE_NUMBERS[2]}}  # 38 significant digits
    with pytest.raises(ConversionError, match=r"attribute 'n': the number .* more significant digits than "
                                              r"Decimal128 holds .*onOverflow to string"):
        to_document(item, ["pk"], BsonPolicy())
    notes = ConversionNotes()
    assert to_document(item, ["pk"], BsonPolicy(on_overflow="string"), notes)["n"] == "0." + EDGE_NUMBERS[0]
    assert notes.numbers_as_strings == 1
    assert isinstance(to_document(item, ["pk"], BsonPolicy(on_overflow="double"))["n"], float)
    nested = {"pk": {"S": "a"}, "m": {"M": {"l": {"L": [{"N": EDGE_NUMBERS[0]}]}}}}
    with pytest.raises(ConversionError, match=r"attribute 'm.l\[0\]'"):
        to_document(nested, ["pk"], BsonPolicy())


@pytest.mark.parametrize("text, kind", [
    ("9.9E+125", Decimal128), ("1E-130", Decimal128), ("-7", Int64), ("1E+2", Int64),
    ("12345678901234567890123456789012345678", str), ("0.5", Decimal128),
])
def test_edge_numbers(text, kind):
    value = to_document({"pk": {"S": "a"}, "n": {"N": text}}, ["pk"], BsonPolicy(on_overflow="string"))["n"]
    assert isinstance(value, kind)
    if kind is not str:
        assert Decimal(str(value.to_decimal() if kind is Decimal128 else value)) == Decimal(text)


def test_sets_as_arrays_or_tagged():
    item = {"pk": {"S": "a"}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": [b"\x00"]}}
    plain = to_document(item, ["pk"], BsonPolicy())
    assert plain["ss"] == ["x", "y"] and plain["ns"] == [Int64(1), Decimal128("2.5")]
    tagged = to_document(item, ["pk"], TAGGED)
    assert tagged["ns"] == {SET_TAG: "NS", "values": [Int64(1), Decimal128("2.5")]}
    assert normalize(from_document(tagged, TAGGED)) == normalize(item)


def test_field_names_with_dots_and_dollars():
    item = {"pk": {"S": "a"}, "a.b": {"N": "1"}, "$x": {"M": {"c.d": {"S": "v"}, "$y": {"S": "w"}}}}
    doc = to_document(item, ["pk"], BsonPolicy())
    assert doc[f"a{ESCAPED_DOT}b"] == 1 and doc[f"{ESCAPED_DOLLAR}x"] == {f"c{ESCAPED_DOT}d": "v", f"{ESCAPED_DOLLAR}y": "w"}
    assert from_document(doc, BsonPolicy()) == {"pk": {"S": "a"}, "a.b": {"N": "1"},
                                                 "$x": {"M": {"c.d": {"S": "v"}, "$y": {"S": "w"}}}}
    assert "a.b" in to_document(item, ["pk"], BsonPolicy(field_names="keep"))
    with pytest.raises(ConversionError, match="attribute '\\$x.c.d': a field name with '.'"):
        to_document({"pk": {"S": "a"}, "$x": {"M": {"c.d": {"S": "v"}}}}, ["pk"], BsonPolicy(field_names="error"))


def test_an_attribute_named_id_does_not_take_the_documents_id():
    item = {"pk": {"S": "a"}, "_id": {"N": "5"}}
    doc = to_document(item, ["pk"], BsonPolicy())
    assert doc["_id"] == "a" and doc["\uff3fid"] == 5
    assert from_document(doc, BsonPolicy()) == {"pk": {"S": "a"}, "_id": {"N": "5"}}
    with pytest.raises(ConversionError, match="attribute '_id': MongoDB's _id is derived from the item's key"):
        to_document(item, ["pk"], BsonPolicy(field_names="keep"))


def test_ttl_field_is_a_date_beside_the_number():
    policy = BsonPolicy(ttl_attribute="expires", ttl_field="expireAt")
    doc = to_document({"pk": {"S": "a"}, "expires": {"N": "1800000000"}}, ["pk"], policy)
    assert doc["expires"] == 1800000000
    assert doc["expireAt"] == datetime.fromtimestamp(1800000000, tz=timezone.utc)
    assert from_document(doc, policy) == {"pk": {"S": "a"}, "expires": {"N": "1800000000"}}
    assert "expireAt" not in to_document({"pk": {"S": "a"}, "expires": {"S": "soon"}}, ["pk"], policy)


def test_every_all_types_item_round_trips():
    overflowing = 0
    for item in all_types_items():
        try:
            doc = to_document(item, ["pk", "sk"], TAGGED)
        except ConversionError as exc:
            assert "more significant digits than Decimal128 holds" in str(exc)
            overflowing += 1
            doc = to_document(item, ["pk", "sk"], BsonPolicy(sets="tagged", on_overflow="string"))
            assert len(bson.encode(doc)) < 16 * 1024 * 1024
            continue  # numbers kept as text come back as S (by design)
        assert len(bson.encode(doc)) < 16 * 1024 * 1024
        assert normalize(from_document(bson.decode(bson.encode(doc)), TAGGED)) == normalize(item)
    assert overflowing == 3  # the items with 38-digit numbers: top level, in a set, in a map


# -- property: any DynamoDB item (within Decimal128) maps to a document and back to itself ----------

names = st.text(st.characters(blacklist_characters=[ESCAPED_DOT, ESCAPED_DOLLAR, "\uff3f", "\x00"],
                              blacklist_categories=["Cs"]), min_size=1, max_size=12)
# Every number DynamoDB holds with at most 34 digits: magnitudes from 1E-130 to 9.99E+125.
numbers = st.builds(lambda digits, exp, neg: f"{'-' if neg else ''}{digits}E{exp}",
                    st.integers(0, 10**34 - 1), st.integers(-130, 92), st.booleans())
scalars = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=20)),
    st.builds(lambda n: {"N": n}, numbers),
    st.builds(lambda b: {"B": b}, st.binary(max_size=20)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
    st.builds(lambda s: {"SS": sorted(s)}, st.sets(st.text(max_size=8), min_size=1, max_size=4)),
    st.builds(lambda s: {"NS": sorted(s)}, st.sets(numbers, min_size=1, max_size=4)),
    st.builds(lambda s: {"BS": sorted(s)}, st.sets(st.binary(max_size=8), min_size=1, max_size=4)),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.builds(lambda l: {"L": l}, st.lists(inner, max_size=4)),
    st.builds(lambda m: {"M": m}, st.dictionaries(names, inner, max_size=4))), max_leaves=12)
items = st.builds(lambda key, rest: {**rest, "pk": {"S": key}}, st.text(min_size=1, max_size=10),
                  st.dictionaries(names.filter(lambda n: n != "pk"), values, max_size=6))


@settings(max_examples=300, deadline=None)
@given(items)
def test_any_item_round_trips_through_bson(item):
    doc = to_document(item, ["pk"], TAGGED)
    assert doc["_id"] == item["pk"]["S"]
    back = from_document(bson.decode(bson.encode(doc)), TAGGED)
    assert normalize(back) == normalize(item)
