"""Item comparison rules of the validator."""

from __future__ import annotations

from migrator.validation import Difference, compare_items, digest, in_sample, key_id, values_equal

KEY = {"pk": {"S": "a"}}


def test_numbers_compare_by_value_and_within_tolerance():
    assert values_equal({"N": "1.50"}, {"N": "1.5"})
    assert values_equal({"N": "1E+2"}, {"N": "100"})
    assert not values_equal({"N": "12345678901234567890123456789012345678"},
                            {"N": "12345678901234567890123456789012345679"})
    assert values_equal({"N": "1.0001"}, {"N": "1.0002"}, tolerance=0.001)
    assert not values_equal({"N": "1.01"}, {"N": "1.02"}, tolerance=0.001)


def test_sets_are_unordered_and_types_must_match():
    assert values_equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert values_equal({"NS": ["1", "2.50"]}, {"NS": ["2.5", "1"]})
    assert not values_equal({"SS": ["a", "b"]}, {"SS": ["a", "c"]})
    assert values_equal({"BS": [b"\x00", b"\x01"]}, {"BS": [b"\x01", b"\x00"]})
    assert not values_equal({"S": "1"}, {"N": "1"})
    assert not values_equal({"L": [{"S": "a"}]}, {"L": [{"S": "a"}, {"S": "b"}]})
    assert values_equal({"M": {"x": {"L": [{"N": "1"}]}}}, {"M": {"x": {"L": [{"N": "1.0"}]}}})
    assert values_equal({"M": {}}, {})  # a stream's bare {} is an empty map


def test_compare_names_missing_extra_and_each_differing_attribute():
    item = {"pk": {"S": "a"}, "m": {"M": {"deep": {"N": "1"}}}, "s": {"SS": ["x"]}}
    assert [d.kind for d in compare_items(KEY, item, None)] == ["missing"]
    assert [d.kind for d in compare_items(KEY, None, item)] == ["extra"]
    assert compare_items(KEY, item, dict(item)) == []
    changed = {**item, "m": {"M": {"deep": {"N": "2"}}}, "new": {"BOOL": True}}
    found = compare_items(KEY, item, changed)
    assert [(d.attribute, d.source, d.target) for d in found] == [
        ("m", {"M": {"deep": {"N": "1"}}}, {"M": {"deep": {"N": "2"}}}), ("new", None, {"BOOL": True})]
    assert found[0].line().startswith('different {"pk": {"S": "a"}} m: source {"M"')


def test_expired_items_are_not_differences():
    item = {"pk": {"S": "a"}, "ttl": {"N": "1000"}}
    assert compare_items(KEY, item, None, ttl_attribute="ttl", now=2000) == []
    assert compare_items(KEY, item, None, ttl_attribute="ttl", now=500)[0].kind == "missing"


def test_keys_join_by_value_and_samples_agree_on_both_sides():
    assert key_id({"n": {"N": "1.50"}}) == key_id({"n": {"N": "1.5"}})
    assert key_id({"b": {"B": b"\x00"}}) != key_id({"b": {"B": b"\x01"}})
    keys = [key_id({"pk": {"S": f"k{i}"}}) for i in range(2000)]
    chosen = [k for k in keys if in_sample(k, 0.25)]
    assert 400 < len(chosen) < 600 and chosen == [k for k in keys if in_sample(k, 0.25)]
    assert all(in_sample(k, None) for k in keys[:5])


def test_difference_round_trips_as_a_dict():
    d = Difference("different", {"pk": {"S": "a"}}, "v", {"N": "1"}, {"N": "2"})
    assert Difference(**d.as_dict()) == d


def test_digests_agree_with_equality():
    from devtools.datagen import all_types_items, generate_items

    items = all_types_items() + generate_items(50)
    for item in items:
        same = {k: v for k, v in reversed(list(item.items()))}
        assert digest(item) == digest(same)
    assert len({digest(i) for i in items}) == len(items)
    assert digest({"n": {"N": "1.50"}, "s": {"SS": ["a", "b"]}}) == digest({"s": {"SS": ["b", "a"]}, "n": {"N": "1.5"}})
    assert digest({"n": {"N": "0"}}) == digest({"n": {"N": "-0"}}) == digest({"n": {"N": "0.00"}})
    assert digest({"m": {"M": {}}}) == digest({"m": {}})
    assert digest({"a": {"S": "xy"}, "b": {"S": ""}}) != digest({"a": {"S": "x"}, "b": {"S": "y"}})
    assert digest({"l": {"L": [{"S": "a"}, {"S": "b"}]}}) != digest({"l": {"L": [{"S": "b"}, {"S": "a"}]}})
    assert digest({"n": {"N": "12345678901234567890123456789012345678"}}) != digest(
        {"n": {"N": "12345678901234567890123456789012345679"}})
