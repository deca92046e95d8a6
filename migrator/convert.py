"""Items in DynamoDB JSON: renames, keys, sizes, TTL, and the wire form for files.

Items travel exactly as the client returns them (``{"N": "1.50"}``): numbers stay strings, so nothing on the
path can round them. A binary value is bytes from botocore and base64 text from the wire-JSON path
(:mod:`migrator.wire_json`) and DynamoDB JSON files; everything here accepts both (:func:`blob`). boto3's ``TypeDeserializer`` is never
used: it raises ``decimal.Rounded`` on valid numbers such as ``9.9E+125``.
"""

from __future__ import annotations

import base64
import decimal
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

Item = dict[str, dict[str, Any]]

#: DynamoDB's item size limit.
MAX_ITEM_BYTES = 400 * 1024
#: DynamoDB's TTL process ignores items whose expiry lies more than five years in the past.
TTL_HORIZON_SECONDS = 5 * 365 * 24 * 3600



def rename_item(item: Mapping[str, Any], renames: Mapping[str, str]) -> Item:
    """Apply top-level attribute renames; the values are not touched.

    Returns the item itself when there is nothing to rename (no copy on the hot path).
    """
    if not renames or not any(name in item for name in renames):
        return item  # type: ignore[return-value]
    return {renames.get(name, name): value for name, value in item.items()}


def blob(value: bytes | bytearray | str) -> bytes:
    """The bytes of a binary value in either form: bytes (botocore) or base64 text (wire form)."""
    return base64.b64decode(value) if isinstance(value, str) else bytes(value)


def item_key(item: Mapping[str, Any], key_names: Iterable[str]) -> Item:
    """The primary key of ``item`` (hash, and range if any), as DynamoDB JSON."""
    return {name: item[name] for name in key_names}


def key_tuple(key: Mapping[str, Any]) -> tuple:
    """A hashable form of a key, for de-duplication within a batch."""
    out = []
    for name in sorted(key):
        ((tag, value),) = key[name].items()
        if tag == "N":
            value = _number(value)
        elif tag == "B":
            value = blob(value)
        out.append((name, tag, value))
    return tuple(out)


#: Wide enough for any DynamoDB number (38 digits, exponents -130..+125): normalising never rounds.
EXACT = decimal.Context(prec=300, Emin=-999999, Emax=999999, traps=[decimal.Inexact])


def _number(text: str) -> Decimal | str:
    try:
        return Decimal(text).normalize(EXACT)
    except InvalidOperation:
        return text


def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its published sizing rules, rounded up)."""
    ((tag, inner),) = value.items()
    if tag == "S":
        return len(inner.encode("utf-8"))
    if tag == "N":
        return _number_size(inner)
    if tag == "B":
        return len(blob(inner))
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if tag == "NS":
        return sum(_number_size(n) for n in inner)
    if tag == "BS":
        return sum(len(blob(b)) for b in inner)
    if tag == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if tag == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type tag {tag!r}")


def _number_size(text: str) -> int:
    digits = sum(ch.isdigit() for ch in text.split("E")[0].split("e")[0])
    return (digits + 1) // 2 + 1


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for a whole item: attribute names plus values."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def write_units(item: Mapping[str, Any]) -> int:
    """Write capacity units one put of ``item`` costs (1 per started KiB)."""
    return max(1, -(-item_size(item) // 1024))


def ttl_expired(item: Mapping[str, Any], ttl_attribute: str | None, now: float) -> bool:
    """True when DynamoDB's TTL process would delete ``item`` (its expiry is past, within 5 years).

    DynamoDB ignores a TTL attribute that is not a number, and expiries older than five years;
    such items live on, so they are copied.
    """
    if not ttl_attribute:
        return False
    value = item.get(ttl_attribute)
    if not value or "N" not in value:
        return False
    try:
        expiry = Decimal(value["N"])
    except InvalidOperation:
        return False
    return Decimal(now) - TTL_HORIZON_SECONDS <= expiry < Decimal(now)


def to_wire(value: Mapping[str, Any]) -> dict[str, Any]:
    """One attribute value as boto3 returns it → the JSON-safe wire form (binary as base64 text)."""
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": _b64(inner)}
    if tag == "BS":
        return {"BS": [_b64(b) for b in inner]}
    if tag == "L":
        return {"L": [to_wire(v) for v in inner]}
    if tag == "M":
        return {"M": {k: to_wire(v) for k, v in inner.items()}}
    return {tag: inner}


def from_wire(value: Mapping[str, Any]) -> dict[str, Any]:
    """Inverse of :func:`to_wire`: base64 text back to bytes, ready for a boto3 call (bytes stay bytes)."""
    ((tag, inner),) = value.items()
    if tag == "B":
        return {"B": blob(inner)}
    if tag == "BS":
        return {"BS": [blob(b) for b in inner]}
    if tag == "L":
        return {"L": [from_wire(v) for v in inner]}
    if tag == "M":
        return {"M": {k: from_wire(v) for k, v in inner.items()}}
    return {tag: inner}


def _b64(data: bytes | str) -> str:
    return data if isinstance(data, str) else base64.b64encode(data).decode("ascii")


def repair_image(item: Mapping[str, Any]) -> Item:
    """A stream image as PutItem accepts it: an empty map is ``{"M": {}}``.

    Real DynamoDB Streams send ``{"M": {}}``; DynamoDB Local sends a bare ``{}``, which PutItem
    rejects. Everything else is returned as it is (same objects).
    """
    return {name: _repair(value) for name, value in item.items()}


def _repair(value: Mapping[str, Any]) -> dict[str, Any]:
    if not value:
        return {"M": {}}
    ((tag, inner),) = value.items()
    if tag == "M":
        return {"M": {k: _repair(v) for k, v in inner.items()}}
    if tag == "L":
        return {"L": [_repair(v) for v in inner]}
    return value  # type: ignore[return-value]


def item_to_wire(item: Mapping[str, Any]) -> dict[str, Any]:
    """A whole item (or key) in wire form: each attribute through :func:`to_wire`."""
    return {name: to_wire(value) for name, value in item.items()}


def item_from_wire(item: Mapping[str, Any]) -> Item:
    """Inverse of :func:`item_to_wire`."""
    return {name: from_wire(value) for name, value in item.items()}
