"""Item-level rules: renames, keys, sizes, TTL, wire form. No float anywhere."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from devtools.datagen import all_types_items
from migrator.convert import (MAX_ITEM_BYTES, TTL_HORIZON_SECONDS, item_from_wire, item_key, item_size,
                              item_to_wire, key_tuple, rename_item, ttl_expired, write_units)

NOW = 1_800_000_000


def test_rename_applies_to_top_level_names_only_and_keeps_values():
    item = {"a": {"M": {"a": {"S": "x"}}}, "b": {"N": "1.50"}}
    assert rename_item(item, {"a": "z"}) == {"z": {"M": {"a": {"S": "x"}}}, "b": {"N": "1.50"}}


def test_rename_without_a_match_returns_the_same_object():
    item = {"a": {"S": "x"}}
    assert rename_item(item, {"q": "r"}) is item
    assert rename_item(item, {}) is item


def test_item_key_picks_the_key_attributes():
    item = {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"S": "x"}}
    assert item_key(item, ["pk", "sk"]) == {"pk": {"S": "a"}, "sk": {"N": "1"}}


def test_key_tuple_compares_numbers_by_value():
    assert key_tuple({"pk": {"N": "1.50"}}) == key_tuple({"pk": {"N": "1.5"}})
    assert key_tuple({"pk": {"N": "100"}}) == key_tuple({"pk": {"N": "1E+2"}})
    assert key_tuple({"pk": {"S": "1"}}) != key_tuple({"pk": {"N": "1"}})
    # 38 significant digits: two keys one unit apart in the last digit stay two keys.
    assert key_tuple({"pk": {"N": "12345678901234567890123456789012345678"}}) != key_tuple(
        {"pk": {"N": "12345678901234567890123456789012345679"}})


@pytest.mark.parametrize("item, size", [
    ({"a": {"S": "hello"}}, 6),                       # name 1 + 5 bytes
    ({"ab": {"S": "é"}}, 4),                          # UTF-8: 2 bytes
    ({"n": {"N": "12345"}}, 1 + 4),                   # 5 digits -> 3 + 1
    ({"b": {"B": b"\x00\x01\x02"}}, 4),
    ({"t": {"BOOL": True}, "z": {"NULL": True}}, 4),
    ({"l": {"L": [{"S": "ab"}]}}, 1 + 3 + 1 + 2),
    ({"m": {"M": {"k": {"S": "ab"}}}}, 1 + 3 + 1 + 1 + 2),
])
def test_item_size_follows_dynamodb_rules(item, size):
    assert item_size(item) == size


def test_big_item_is_under_the_limit_and_costs_many_write_units():
    big = [i for i in all_types_items() if "big" in i][0]
    assert 390 * 1024 < item_size(big) < MAX_ITEM_BYTES
    assert write_units(big) == -(-item_size(big) // 1024)
    assert write_units({"a": {"S": "x"}}) == 1


@pytest.mark.parametrize("ttl, expired", [
    (NOW - 1, True),
    (NOW, False),                          # expires exactly now: not yet
    (NOW + 3600, False),
    (NOW - TTL_HORIZON_SECONDS, True),     # oldest DynamoDB still deletes
    (NOW - TTL_HORIZON_SECONDS - 1, False),  # older than five years: DynamoDB keeps it, so do we
])
def test_ttl_expiry_matches_dynamodb(ttl, expired):
    assert ttl_expired({"exp": {"N": str(ttl)}}, "exp", NOW) is expired


def test_ttl_ignores_missing_or_non_number_attributes():
    assert not ttl_expired({"exp": {"S": "1"}}, "exp", NOW)
    assert not ttl_expired({}, "exp", NOW)
    assert not ttl_expired({"exp": {"N": "1"}}, None, NOW)
    assert ttl_expired({"exp": {"N": f"{NOW - 10}.999"}}, "exp", NOW)


def test_wire_form_is_json_and_round_trips_every_type():
    for item in all_types_items():
        wire = item_to_wire(item)
        text = json.dumps(wire)
        assert item_from_wire(json.loads(text)) == item


def test_wire_form_of_numbers_is_the_exact_string():
    item = {"n": {"N": "9.9999999999999999999999999999999999999E+125"}, "ns": {"NS": ["1E-130"]}}
    assert item_to_wire(item) == item
    assert Decimal(item_to_wire(item)["n"]["N"]) == Decimal("9.9999999999999999999999999999999999999E+125")
