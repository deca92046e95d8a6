"""Deterministic test data: every DynamoDB type and its edge cases, and generated tables.

Everything comes from ``random.Random(seed)``: the same call gives the same items, so a failure
reproduces. Items are raw DynamoDB JSON, as the low-level client takes them.
"""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Iterable

#: Numbers DynamoDB accepts that break naive converters: 38 significant digits, extreme exponents.
EDGE_NUMBERS = [
    "12345678901234567890123456789012345678",
    "-12345678901234567890123456789012345678",
    "0.12345678901234567890123456789012345678",
    "1.2345678901234567890123456789012345678E-100",
    "9.9E+125",
    "9.9999999999999999999999999999999999999E+125",
    "1E-130",
    "-1E-130",
    "0",
    "-7",
    "3.14159",
    "1.50",
]


def all_types_items(hash_only: bool = False) -> list[dict[str, Any]]:
    """A fixed set of items covering every attribute type and its edge cases."""

    def key(i: int) -> dict[str, Any]:
        k = {"pk": {"S": f"types#{i:03d}"}}
        if not hash_only:
            k["sk"] = {"N": str(i)}
        return k

    deep: dict[str, Any] = {"S": "bottom"}
    for level in range(30):
        deep = {"M": {f"level{level}": deep, "n": {"N": str(level)}}}
    items = [
        {"s_plain": {"S": "hello"}, "s_empty": {"S": ""}, "s_unicode": {"S": "héllo ✓ 日本語 🚀"},
         "s_long": {"S": "x" * 10_000}},
        {f"n{i}": {"N": n} for i, n in enumerate(EDGE_NUMBERS)},
        {"b": {"B": bytes(range(256))}, "b_empty": {"B": b""}, "b_small": {"B": b"\x00"}},
        {"t": {"BOOL": True}, "f": {"BOOL": False}, "nul": {"NULL": True}},
        {"ss": {"SS": ["a", "b", "héllo", "z" * 100]},
         "ns": {"NS": ["1", "2.5", "-3", EDGE_NUMBERS[0], EDGE_NUMBERS[3], "9.9E+125"]},
         "bs": {"BS": [b"\x00", b"\x01\x02", bytes(range(10))]}},
        {"l": {"L": [{"S": "a"}, {"N": "1"}, {"NULL": True}, {"L": [{"BOOL": False}, {"M": {}}]},
                     {"M": {"inner": {"SS": ["x", "y"]}}}, {"B": b"\xff"}]},
         "l_empty": {"L": []}, "m_empty": {"M": {}},
         "m": {"M": {"a": {"M": {"b": {"L": [{"N": EDGE_NUMBERS[4]}, {"L": []}]}}}, "e": {"M": {}},
                     "with space": {"S": "ok"}, "dotted.name": {"N": "1"}}}},
        {"deep": deep},
        {"big": {"B": random.Random(7).randbytes(390 * 1024)}},
        {"everything": {"M": {"s": {"S": "s"}, "n": {"N": EDGE_NUMBERS[1]}, "b": {"B": b"b"},
                              "ss": {"SS": ["1"]}, "ns": {"NS": ["1"]}, "bs": {"BS": [b"1"]},
                              "l": {"L": []}, "m": {"M": {}}, "bool": {"BOOL": True}, "null": {"NULL": True}}}},
    ]
    return [{**key(i), **attrs} for i, attrs in enumerate(items)]


def generate_items(count: int, seed: int = 1, hash_only: bool = False, start: int = 0,
                   sizes: Iterable[int] = (200, 200, 200, 800, 800, 2_000, 4_000, 12_000)) -> list[dict[str, Any]]:
    """``count`` items of mixed sizes (``sizes`` is sampled for the payload length).

    Keys are ``pk`` = ``item#<n>`` (and ``sk`` = n mod 7 unless ``hash_only``), so loading the same
    range twice overwrites, never duplicates.
    """
    rng = random.Random(seed)
    sizes = list(sizes)
    items = []
    for n in range(start, start + count):
        item: dict[str, Any] = {"pk": {"S": f"item#{n:08d}"}}
        if not hash_only:
            item["sk"] = {"N": str(n % 7)}
        item["name"] = {"S": f"name {rng.randrange(1_000_000)}"}
        item["count"] = {"N": str(rng.randrange(-10**12, 10**12))}
        item["score"] = {"N": str(Decimal(rng.randrange(10**12)) / Decimal(10**rng.randrange(1, 12)))}
        item["payload"] = {"S": "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789 ", k=rng.choice(sizes)))}
        if rng.random() < 0.5:
            item["tags"] = {"SS": sorted({f"t{rng.randrange(20)}" for _ in range(rng.randrange(1, 5))})}
        if rng.random() < 0.3:
            item["nested"] = {"M": {"flag": {"BOOL": rng.random() < 0.5},
                                    "list": {"L": [{"N": str(rng.randrange(100))} for _ in range(rng.randrange(4))]},
                                    "blob": {"B": rng.randbytes(rng.randrange(1, 64))}}}
        items.append(item)
    return items


def create_table(client: Any, name: str, hash_only: bool = False, **extra: Any) -> None:
    """Create ``name`` with key ``pk`` (S) [+ ``sk`` (N)], on demand unless ``extra`` says otherwise."""
    keys = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if not hash_only:
        keys.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    attrs.extend(extra.pop("ExtraAttributes", []))
    params = {"TableName": name, "KeySchema": keys, "AttributeDefinitions": attrs, "BillingMode": "PAY_PER_REQUEST"}
    params.update(extra)
    client.create_table(**params)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def put_items(client: Any, table: str, items: list[dict[str, Any]], threads: int = 4) -> None:
    """Write ``items`` with BatchWriteItem from a few threads, resending unprocessed items."""
    lock = threading.Lock()
    chunks = [items[i:i + 25] for i in range(0, len(items), 25)]

    def write(chunk: list[dict[str, Any]]) -> None:
        pending = [{"PutRequest": {"Item": item}} for item in chunk]
        while pending:
            response = client.batch_write_item(RequestItems={table: pending})
            pending = response.get("UnprocessedItems", {}).get(table, [])

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(write, c) for c in chunks]:
            with lock:
                future.result()


def scan_all(client: Any, table: str) -> list[dict[str, Any]]:
    """Every item of ``table`` (raw DynamoDB JSON)."""
    return scan_all_segment(client, table, 0, 1)


def scan_all_filtered(client: Any, table: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The items of ``table`` a Scan with ``params`` (a ``FilterExpression`` and its placeholders) returns."""
    return scan_all_segment(client, table, 0, 1, **params)


def scan_all_segment(client: Any, table: str, segment: int, total: int, **params: Any) -> list[dict[str, Any]]:
    """Every item of one Scan segment of ``table``."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, **params}
    if total > 1:
        kwargs.update(Segment=segment, TotalSegments=total)
    while True:
        page = client.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def normalize(value: Any) -> Any:
    """A comparable form of a DynamoDB JSON value: numbers by exact value, sets as sets.

    DynamoDB normalises numbers (``1.50`` → ``1.5``) and does not keep set order; neither is a
    difference.
    """
    if isinstance(value, dict) and len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "N":
            return ("N", Decimal(inner))
        if tag == "NS":
            return ("NS", frozenset(Decimal(n) for n in inner))
        if tag in ("SS", "BS"):
            return (tag, frozenset(bytes(b) if tag == "BS" else b for b in inner))
        if tag == "B":
            return ("B", bytes(inner))
        if tag == "L":
            return ("L", tuple(normalize(v) for v in inner))
        if tag == "M":
            return ("M", frozenset((k, normalize(v)) for k, v in inner.items()))
        if tag in ("S", "BOOL", "NULL"):
            return (tag, inner)
    if isinstance(value, dict):
        return frozenset((k, normalize(v)) for k, v in value.items())
    raise TypeError(f"not DynamoDB JSON: {value!r}")


def normalize_wire(item: dict[str, Any]) -> dict[str, Any]:
    """An item in wire form (binary as base64 text) back to boto3's form, for comparisons."""
    from migrator.convert import item_from_wire

    return item_from_wire(item)


def by_key(items: Iterable[dict[str, Any]], key_names: Iterable[str] = ("pk", "sk")) -> dict[tuple, Any]:
    """Items indexed by their (normalised) primary key, each normalised."""
    names = list(key_names)
    return {tuple(normalize(item[k]) for k in names if k in item): normalize(item) for item in items}
