"""The filter evaluator agrees with DynamoDB: random expressions over items of every type, each run
as a Scan filter on DynamoDB Local and by :mod:`migrator.conditions` on the same items."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools import datagen
from migrator.conditions import parse_filter

NAMES = ["a", "b", "c", "m", "l", "ss", "ns", "bs", "none"]


def values(rng: random.Random) -> dict:
    """One attribute value of a random type, from a small domain so that comparisons hit."""
    kind = rng.choice(["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"])
    if kind == "S":
        return {"S": rng.choice(["", "a", "ab", "abc", "b", "é", "日本", "a\U0001F680"])}
    if kind == "N":
        return {"N": rng.choice(["0", "1", "1.0", "2", "-1", "10", "1E+2", "0.5", datagen.EDGE_NUMBERS[0]])}
    if kind == "B":
        return {"B": rng.choice([b"", b"\x00", b"\x00\x01", b"\xff", b"a"])}
    if kind == "BOOL":
        return {"BOOL": rng.random() < 0.5}
    if kind == "NULL":
        return {"NULL": True}
    if kind == "SS":
        return {"SS": rng.sample(["a", "b", "ab", "é"], rng.randint(1, 3))}
    if kind == "NS":
        return {"NS": rng.sample(["1", "2", "-1", "0.5"], rng.randint(1, 3))}
    if kind == "BS":
        return {"BS": rng.sample([b"\x00", b"a", b"\xff"], rng.randint(1, 2))}
    if kind == "L":
        return {"L": [values(rng) for _ in range(rng.randint(0, 3))]}
    return {"M": {k: values(rng) for k in rng.sample(["a", "b", "x"], rng.randint(0, 2))}}


def make_items(count: int) -> list[dict]:
    rng = random.Random(5)
    items = []
    for n in range(count):
        item = {"pk": {"S": f"k{n:04d}"}}
        for name in NAMES[:-1]:
            if rng.random() < 0.8:
                item[name] = values(rng)
        if rng.random() < 0.3:
            item["m"] = {"M": {"a": values(rng), "x": {"L": [values(rng), values(rng)]}}}
        if rng.random() < 0.3:
            item["l"] = {"L": [values(rng) for _ in range(3)]}
        items.append(item)
    return items


def wire(value: dict) -> dict:
    """A value as a configuration writes it (binary as base64)."""
    from migrator.convert import to_wire

    return to_wire(value)


@st.composite
def expressions(draw):
    """(expression, names, values): a random condition over #placeholders and :values."""
    names: dict[str, str] = {}
    vals: dict[str, dict] = {}

    def path() -> str:
        base = draw(st.sampled_from(NAMES))
        key = f"#n{NAMES.index(base)}"
        names[key] = base
        text = key
        step = draw(st.sampled_from(["", "", "", ".a", ".x[0]", "[0]", "[1]"]))
        for part in filter(None, step.replace("[", " [").replace(".", " .").split()):
            if part.startswith("."):
                names[f"#f{part[1:]}"] = part[1:]
                text += f".#f{part[1:]}"
            else:
                text += part
        return text

    def value() -> str:
        key = f":v{len(vals)}"
        vals[key] = values(random.Random(draw(st.integers(0, 10_000))))
        return key

    def operand() -> str:
        choice = draw(st.integers(0, 4))
        if choice == 0:
            return f"size({path()})"
        return value() if choice == 1 else path()

    def condition(depth: int) -> str:
        kind = draw(st.integers(0, 9 if depth < 2 else 6))
        if kind <= 1:
            return f"{operand()} {draw(st.sampled_from(['=', '<>', '<', '<=', '>', '>=']))} {operand()}"
        if kind == 2:
            return f"{operand()} BETWEEN {operand()} AND {operand()}"
        if kind == 3:
            return f"{operand()} IN ({', '.join(operand() for _ in range(draw(st.integers(1, 3))))})"
        if kind == 4:
            return f"{draw(st.sampled_from(['attribute_exists', 'attribute_not_exists']))}({path()})"
        if kind == 5:
            key = f":t{len(vals)}"
            vals[key] = {"S": draw(st.sampled_from(["S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M"]))}
            return f"attribute_type({path()}, {key})"
        if kind == 6:
            return f"{draw(st.sampled_from(['begins_with', 'contains']))}({path()}, {operand()})"
        if kind == 7:
            return f"NOT {condition(depth + 1)}"
        return f"({condition(depth + 1)}) {draw(st.sampled_from(['AND', 'OR']))} ({condition(depth + 1)})"

    text = condition(0)
    return text, names, {k: wire(v) for k, v in vals.items()}


class Table:
    """The table and its items, shown briefly when hypothesis reports an example."""

    def __init__(self, client, name, items):
        self.client, self.name, self.items = client, name, items

    def __repr__(self) -> str:
        return f"<table {self.name}: {len(self.items)} items>"


@pytest.fixture(scope="module")
def table(ddb):
    source, _ = ddb
    name = "conditions_agree"
    client = source.client()
    if name not in client.list_tables()["TableNames"]:
        client.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        datagen.put_items(client, name, make_items(150))
    return Table(client, name, datagen.scan_all(client, name))


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(expressions())
def test_the_evaluator_keeps_what_a_dynamodb_scan_filter_keeps(table, case):
    client, name, items = table.client, table.name, table.items
    expression, names, vals = case
    item_filter = parse_filter(expression, names, vals)
    try:
        kept = datagen.scan_all_filtered(client, name, item_filter.scan_parameters())
    except ClientError as exc:
        # DynamoDB refuses some expressions it could evaluate (BETWEEN bounds in the wrong order...).
        assert exc.response["Error"]["Code"] == "ValidationException", exc
        return
    expected = {i["pk"]["S"] for i in kept}
    ours = {i["pk"]["S"] for i in items if item_filter.matches(i)}
    if ours != expected:
        wrong = sorted(ours ^ expected)[:3]
        shown = [(i, "kept by DynamoDB" if i["pk"]["S"] in expected else "dropped by DynamoDB")
                 for i in items if i["pk"]["S"] in wrong]
        pytest.fail(f"{expression} {names} {vals}: we differ on {shown}")
