"""Filter expressions: parsing, the errors a configuration gets, and DynamoDB's evaluation rules.

tests/integration/test_conditions.py checks the evaluator against DynamoDB Local on random expressions;
these pin the rules that a user meets first, one case each.
"""

from __future__ import annotations

import pytest

from migrator.conditions import ExpressionError, parse_filter


def keeps(expression: str, item: dict, names: dict | None = None, **values) -> bool:
    return parse_filter(expression, names, {f":{k}": v for k, v in values.items()}).matches(item)


ITEM = {"pk": {"S": "a"}, "amount": {"N": "10.50"}, "status": {"S": "active"}, "tags": {"SS": ["x", "y"]},
        "scores": {"NS": ["1", "2.0"]}, "blob": {"B": b"\x00\x01\x02"}, "flag": {"BOOL": True},
        "nothing": {"NULL": True}, "list": {"L": [{"N": "1"}, {"S": "two"}, {"M": {"deep": {"S": "x"}}}]},
        "map": {"M": {"inner": {"N": "5"}, "empty": {"M": {}}}}, "rocket": {"S": "a\U0001F680"}}


def test_comparisons_follow_dynamodb():
    assert keeps("amount = :v", ITEM, v={"N": "10.5"})                      # numbers by value
    assert keeps("amount BETWEEN :lo AND :hi", ITEM, lo={"N": "10"}, hi={"N": "1E+1"}) is False
    assert keeps("amount BETWEEN :lo AND :hi", ITEM, lo={"N": "10"}, hi={"N": "11"})
    assert keeps("#s IN (:a, :b)", ITEM, {"#s": "status"}, a={"S": "gone"}, b={"S": "active"})
    assert keeps("amount > :v", ITEM, v={"S": "1"}) is False                # other types never order
    assert keeps("amount <> :v", ITEM, v={"S": "10.50"})                    # ... and are never equal
    assert keeps("missing = :v", ITEM, v={"S": "x"}) is False
    assert keeps("missing <> :v", ITEM, v={"S": "x"})                       # <> with a missing operand: true
    assert keeps("tags = :v", ITEM, v={"SS": ["y", "x"]})                   # sets as sets
    assert keeps("scores = :v", ITEM, v={"NS": ["2", "1.0"]})
    assert keeps("blob < :v", ITEM, v={"B": "AAI="})                        # binary by bytes (00 02)
    assert keeps("nothing = :v AND flag = :t", ITEM, v={"NULL": True}, t={"BOOL": True})


def test_functions_paths_and_logic():
    assert keeps("attribute_exists(map.inner) AND attribute_not_exists(map.other)", ITEM)
    assert keeps("list[2].deep = :v AND list[1] = :two", ITEM, v={"S": "x"}, two={"S": "two"})
    assert keeps("attribute_exists(list[3])", ITEM) is False
    assert keeps("attribute_type(amount, :t)", ITEM, t={"S": "N"})
    assert keeps("begins_with(#s, :p) AND begins_with(blob, :b)", ITEM, {"#s": "status"}, p={"S": "act"},
                 b={"B": "AAE="})
    assert keeps("contains(tags, :x) AND contains(list, :one) AND contains(#s, :iv)", ITEM, {"#s": "status"},
                 x={"S": "x"}, one={"N": "1.0"}, iv={"S": "tiv"})
    assert keeps("size(tags) = :two AND size(blob) = :three AND size(map) = :two", ITEM,
                 two={"N": "2"}, three={"N": "3"})
    assert keeps("size(rocket) = :three", ITEM, three={"N": "3"})          # UTF-16 code units
    assert keeps("size(amount) = :v", ITEM, v={"N": "5"}) is False          # a number has no size
    assert keeps("size(map.empty) = :zero", ITEM, zero={"N": "0"})
    # NOT binds tighter than AND, which binds tighter than OR.
    assert keeps("NOT flag = :f AND amount > :big OR #s = :a", ITEM, {"#s": "status"}, f={"BOOL": True},
                 big={"N": "100"}, a={"S": "active"})
    assert keeps("NOT (flag = :f OR amount > :big)", ITEM, f={"BOOL": False}, big={"N": "100"})


def test_a_stream_image_with_a_bare_empty_map_is_an_empty_map():
    image = {"pk": {"S": "k"}, "m": {}}  # DynamoDB Local's stream images write {"M": {}} as {}
    assert keeps("attribute_type(m, :t) AND size(m) = :zero", image, t={"S": "M"}, zero={"N": "0"})


@pytest.mark.parametrize("expression, names, values, message", [
    ("", {}, {}, "filterExpression: empty"),
    ("amount >", {}, {}, "expected an attribute name or a #name placeholder at character 9, found the end"),
    ("amount > :min extra", {}, {":min": {"N": "1"}}, "expected AND, OR or the end at character 15, found 'extra'"),
    ("amount - 1", {}, {}, "unexpected '-' at character 8"),
    ("#s = :v", {}, {":v": {"S": "x"}}, "#s is not defined in expressionAttributeNames"),
    ("a = :v", {}, {}, ":v is not defined in expressionAttributeValues"),
    ("a = :v", {"#unused": "x"}, {":v": {"S": "x"}}, "expressionAttributeNames: #unused not used in filterExpression"),
    ("a = :v", {}, {":v": {"S": "x"}, ":w": {"S": "y"}}, "expressionAttributeValues: :w not used"),
    ("a = :v", {}, {":v": {"N": "ten"}}, "expressionAttributeValues.:v: not a valid N value ('ten' is not a number)"),
    ("a = :v", {}, {":v": "plain"}, "must be DynamoDB JSON with one type"),
    ("a = :v", {}, {":v": {"B": "not base64!"}}, "expressionAttributeValues.:v: not a valid B value"),
    ("attribute_type(a, :v)", {}, {":v": {"S": "STRING"}}, "attribute_type takes a value placeholder holding one"),
    ("a BETWEEN :v", {}, {":v": {"N": "1"}}, "expected AND at character 13"),
])
def test_errors_say_where_and_what(expression, names, values, message):
    with pytest.raises(ExpressionError, match=None) as caught:
        parse_filter(expression, names, values)
    assert message in str(caught.value)


def test_scan_parameters_carry_only_the_placeholders_given():
    parsed = parse_filter("#s = :v", {"#s": "status"}, {":v": {"B": "AAE="}})
    assert parsed.scan_parameters() == {"FilterExpression": "#s = :v", "ExpressionAttributeNames": {"#s": "status"},
                                        "ExpressionAttributeValues": {":v": {"B": b"\x00\x01"}}}
    assert parse_filter("attribute_exists(a)").scan_parameters() == {"FilterExpression": "attribute_exists(a)"}
