"""Comparing a source item with its target counterpart: values, tolerance, expiry. Pure logic.

Items are compared in the target's terms: the source item after renames (and, for MongoDB, after
the document mapping and back, so that a number kept as text or a set stored as an array compares
equal to what a correct migration wrote). Numbers compare by value (DynamoDB writes ``1.50`` as
``1.5``), sets as sets, binary as bytes (base64 text or bytes alike).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from .convert import EXACT, blob, item_to_wire, key_tuple, to_wire, ttl_expired


@dataclass(frozen=True)
class Difference:
    """One way the two sides disagree about a key."""

    kind: str                  # missing | extra | different
    key: dict[str, Any]        # wire form
    attribute: str | None = None
    source: Any = None         # wire form of the source value (or item)
    target: Any = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def line(self, width: int = 100) -> str:
        key = json.dumps(self.key, sort_keys=True)
        if self.kind != "different":
            return f"{self.kind:9} {key}"
        src = json.dumps(self.source, sort_keys=True)
        tgt = json.dumps(self.target, sort_keys=True)
        return (f"different {key} {self.attribute}: source {_cut(src, width)} / target {_cut(tgt, width)}")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def key_id(key: Mapping[str, Any]) -> str:
    """A stable text form of a key (numbers by value), for joining the two sides."""
    return json.dumps([[n, t, str(v) if isinstance(v, Decimal) else (v.hex() if isinstance(v, bytes) else v)]
                       for n, t, v in key_tuple(key)])


def in_sample(key: str, fraction: float | None) -> bool:
    """Whether ``key`` is in the sample: decided by a hash of the key, so both sides agree."""
    if fraction is None or fraction >= 1:
        return True
    digest = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    return digest / 2**64 < fraction


def digest(item: Mapping[str, Any]) -> bytes:
    """A short fingerprint of an item that is equal exactly when :func:`values_equal` (without
    tolerance) holds for every attribute: numbers by value, sets unordered, empty map = ``{}``."""
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(item):
        h.update(name.encode("utf-8"))
        h.update(b"\x00")
        _feed(h, item[name])
    return h.digest()


def _feed(h: Any, value: Mapping[str, Any]) -> None:
    ((tag, inner),) = value.items() if value else (("M", {}),)
    h.update(tag.encode("ascii"))
    if tag == "N":
        h.update(_canonical_number(inner))
    elif tag == "NS":
        for number in sorted(_decimal(x) for x in inner):
            h.update(_canonical_number(number) + b",")
    elif tag in ("SS", "BS"):
        for member in sorted(blob(x) if tag == "BS" else x.encode("utf-8") for x in inner):
            h.update(len(member).to_bytes(4, "big") + member)
    elif tag in ("S", "B"):
        data = inner.encode("utf-8") if tag == "S" else blob(inner)
        h.update(len(data).to_bytes(4, "big") + data)
    elif tag == "L":
        h.update(len(inner).to_bytes(4, "big"))
        for element in inner:
            _feed(h, element)
    elif tag == "M":
        h.update(len(inner).to_bytes(4, "big"))
        for name in sorted(inner):
            h.update(name.encode("utf-8") + b"\x00")
            _feed(h, inner[name])
    else:
        h.update(repr(inner).encode("utf-8"))
    h.update(b";")


def _canonical_number(value: Any) -> bytes:
    number = _decimal(value)
    return (str(number.normalize(EXACT)) if number else "0").encode("ascii")


def values_equal(a: Mapping[str, Any], b: Mapping[str, Any], tolerance: float = 0.0) -> bool:
    """Two DynamoDB attribute values are equal (numbers within ``tolerance``, sets unordered)."""
    ((ta, va),) = a.items() if a else (("M", {}),)
    ((tb, vb),) = b.items() if b else (("M", {}),)
    if ta != tb:
        return False
    if ta == "N":
        return _numbers_equal(va, vb, tolerance)
    if ta == "NS":
        if len(va) != len(vb):
            return False
        left, right = sorted(_decimal(x) for x in va), sorted(_decimal(x) for x in vb)
        return all(_numbers_equal(x, y, tolerance) for x, y in zip(left, right))
    if ta in ("SS", "BS"):
        return {blob(x) if ta == "BS" else x for x in va} == {blob(x) if ta == "BS" else x for x in vb}
    if ta == "B":
        return blob(va) == blob(vb)
    if ta == "L":
        return len(va) == len(vb) and all(values_equal(x, y, tolerance) for x, y in zip(va, vb))
    if ta == "M":
        return va.keys() == vb.keys() and all(values_equal(va[k], vb[k], tolerance) for k in va)
    return va == vb


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _numbers_equal(a: Any, b: Any, tolerance: float) -> bool:
    try:
        x, y = _decimal(a), _decimal(b)
    except InvalidOperation:
        return a == b
    if not tolerance:
        return x == y
    return abs(EXACT.subtract(x, y)) <= Decimal(str(tolerance))


def compare_items(key: Mapping[str, Any], source: Mapping[str, Any] | None, target: Mapping[str, Any] | None,
                  tolerance: float = 0.0, ttl_attribute: str | None = None, now: float | None = None
                  ) -> list[Difference]:
    """The differences for one key; an item whose TTL expired (on either side) is never one."""
    if now is not None and ttl_attribute and any(
            item is not None and ttl_expired(item, ttl_attribute, now) for item in (source, target)):
        return []
    wire_key = item_to_wire(key)
    if target is None:
        return [Difference("missing", wire_key, source=None)]
    if source is None:
        return [Difference("extra", wire_key)]
    out = []
    for name in sorted(set(source) | set(target)):
        a, b = source.get(name), target.get(name)
        if a is None or b is None or not values_equal(a, b, tolerance):
            out.append(Difference("different", wire_key, name, to_wire(a) if a is not None else None,
                                  to_wire(b) if b is not None else None))
    return out
