"""DynamoDB items as MongoDB documents, exactly, and back.

| DynamoDB | MongoDB |
|---|---|
| S | string |
| N, an integer within int64 | int64 |
| N, any other number with at most 34 significant digits | Decimal128 (exact, in canonical form) |
| N, beyond Decimal128 (35 to 38 digits) | ``numbers.onOverflow``: ``error`` (dead letter, default), ``string`` (exact canonical text, counted), ``tagged`` (``{"__dynamodb_number__": "<text>"}``, exact and restorable, counted), ``double`` (lossy, only when asked) |
| B | binary (subtype 0) |
| BOOL / NULL | bool / null |
| L / M | array / embedded document (empty ones stay empty) |
| SS, NS, BS | arrays (``sets: array``, default) or ``{"__dynamodb_set__": "SS", "values": [...]}`` (``sets: tagged``, restorable) |

Field names containing ``.`` or starting with ``$`` follow ``fieldNames``: ``escape`` (default:
``.`` becomes U+FF0E and a leading ``$`` U+FF04, reversed on the way back), ``keep`` (stored as they
are; MongoDB 5+ accepts them except a top-level ``$`` name, which then goes to the dead letter),
``error`` (the item goes to the dead letter). A top-level attribute named ``_id`` cannot take the
document's ``_id``: it is stored as U+FF3F ``id`` under ``escape``, and dead-lettered otherwise.

``_id`` is derived from the primary key so that writing an item again replaces it: the key value
for a hash-only table, ``{<hash>: .., <range>: ..}`` (in that order) for a composite key. The key
attributes also stay ordinary fields.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from bson import Binary, Decimal128, Int64

from ...convert import blob
from ...errors import ConversionError

SET_TAG = "__dynamodb_set__"
NUMBER_TAG = "__dynamodb_number__"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
ESCAPED_DOT, ESCAPED_DOLLAR, ESCAPED_UNDERSCORE = "\uff0e", "\uff04", "\uff3f"
#: DynamoDB numbers have at most 38 significant digits: normalising never rounds (and may not).
_CANONICAL = decimal.Context(prec=38, traps=[decimal.Inexact, decimal.Overflow, decimal.InvalidOperation])


@dataclass(frozen=True)
class BsonPolicy:
    """How the decisions the mapping leaves open are made (from ``target`` in the config)."""

    on_overflow: str = "error"       # error | string | tagged | double
    sets: str = "array"              # array | tagged
    field_names: str = "escape"      # escape | keep | error
    ttl_attribute: str | None = None  # the source's TTL attribute (after renames)
    ttl_field: str | None = None      # the date field written for MongoDB's TTL index


@dataclass
class ConversionNotes:
    """What a conversion did that a user should know about (counted in the summary)."""

    numbers_as_strings: int = 0
    numbers_as_doubles: int = 0


def to_document(item: Mapping[str, Any], key_names: list[str], policy: BsonPolicy,
                notes: ConversionNotes | None = None) -> dict[str, Any]:
    """The MongoDB document for a DynamoDB item (DynamoDB JSON, binary as bytes or base64 text).

    Raises
    ------
    ConversionError
        The item cannot be represented under ``policy`` (the message says which attribute).
    """
    notes = notes if notes is not None else ConversionNotes()
    doc: dict[str, Any] = {"_id": document_id(item, key_names, policy)}
    for name, value in item.items():
        doc[field_name(name, policy, name, top=True)] = _value(value, policy, notes, name)
    if policy.ttl_field and policy.ttl_attribute and "N" in item.get(policy.ttl_attribute, {}):
        seconds = Decimal(item[policy.ttl_attribute]["N"])
        try:
            doc[policy.ttl_field] = datetime.fromtimestamp(float(seconds), tz=timezone.utc)
        except (OverflowError, ValueError, OSError):
            pass  # not a plausible epoch time: DynamoDB would not expire it either
    return doc


def document_id(key: Mapping[str, Any], key_names: list[str], policy: BsonPolicy) -> Any:
    """The deterministic ``_id`` of the item with primary key ``key``."""
    notes = ConversionNotes()
    try:
        values = [(name, _value(key[name], policy, notes, name)) for name in key_names]
    except KeyError as exc:
        raise ConversionError(f"the item has no key attribute {exc.args[0]!r}") from None
    if len(values) == 1:
        return values[0][1]
    return {field_name(name, policy, name, top=False): value for name, value in values}


def field_name(name: str, policy: BsonPolicy, path: str, top: bool) -> str:
    """``name`` as a MongoDB field name under ``policy`` (see the module notes)."""
    if top and name == "_id":
        # The document's _id is derived from the key; an attribute of that name cannot take it.
        if policy.field_names == "escape":
            return ESCAPED_UNDERSCORE + "id"
        raise ConversionError("attribute '_id': MongoDB's _id is derived from the item's key; with "
                              "target.fieldNames: escape it is stored as \uff3fid")
    if "." not in name and not name.startswith("$"):
        return name
    if policy.field_names == "escape":
        escaped = name.replace(".", ESCAPED_DOT)
        return ESCAPED_DOLLAR + escaped[1:] if escaped.startswith("$") else escaped
    if policy.field_names == "error":
        raise ConversionError(f"attribute {path!r}: a field name with '.' or a leading '$' "
                              "(target.fieldNames: error)")
    return name


def _value(value: Mapping[str, Any], policy: BsonPolicy, notes: ConversionNotes, path: str) -> Any:
    ((tag, inner),) = value.items() if value else (("M", {}),)
    if tag == "S":
        return inner
    if tag == "N":
        return _number(inner, policy, notes, path)
    if tag == "B":
        return Binary(blob(inner), 0)
    if tag == "BOOL":
        return bool(inner)
    if tag == "NULL":
        return None
    if tag == "L":
        return [_value(v, policy, notes, f"{path}[{i}]") for i, v in enumerate(inner)]
    if tag == "M":
        return {field_name(k, policy, f"{path}.{k}", top=False): _value(v, policy, notes, f"{path}.{k}")
                for k, v in inner.items()}
    if tag in ("SS", "NS", "BS"):
        element = {"SS": "S", "NS": "N", "BS": "B"}[tag]
        values = [_value({element: v}, policy, notes, path) for v in inner]
        return {SET_TAG: tag, "values": values} if policy.sets == "tagged" else values
    raise ConversionError(f"attribute {path!r}: unknown DynamoDB type {tag!r}")


def _number(text: str, policy: BsonPolicy, notes: ConversionNotes, path: str) -> Any:
    if len(text) <= 18 and text.isascii() and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return Int64(int(text))  # the common case, without a Decimal: an integer of at most 18 digits fits int64
    number = Decimal(text)
    if number == number.to_integral_value() and INT64_MIN <= number <= INT64_MAX:
        return Int64(int(number))
    # One canonical form per value: DynamoDB writes the same number as "1E-130" in a Scan and as
    # "0.000...1" in a stream image; the document must not depend on which path wrote it.
    try:
        number = number.normalize(_CANONICAL)
    except decimal.Inexact:
        raise ConversionError(f"attribute {path!r}: {text} has more than 38 significant digits") from None
    exact = _decimal128(number)
    if exact is not None:
        return exact
    if policy.on_overflow in ("string", "tagged"):
        notes.numbers_as_strings += 1
        return str(number) if policy.on_overflow == "string" else {NUMBER_TAG: str(number)}
    if policy.on_overflow == "double":
        notes.numbers_as_doubles += 1
        return float(number)
    raise ConversionError(f"attribute {path!r}: the number {text} has more significant digits than "
                          "Decimal128 holds (34); set target.numbers.onOverflow to string to keep it as text")


def _decimal128(number: Decimal) -> Decimal128 | None:
    try:
        return Decimal128(number)
    except (decimal.Inexact, decimal.InvalidOperation, decimal.Overflow, decimal.Underflow, decimal.Rounded):
        return None


def from_document(doc: Mapping[str, Any], policy: BsonPolicy) -> dict[str, Any]:
    """The DynamoDB item a document stands for (the inverse of :func:`to_document`): the mapping a MongoDB source
    uses into DynamoDB (:class:`~migrator.sources.mongodb.items.ItemMapping`), without a key (the key attributes are
    fields of the document too) and without the TTL date field.

    Numbers kept as text under ``onOverflow: string`` come back as ``S``: a document does not say they were numbers;
    the validator knows from the policy and compares them by value.
    """
    from ...sources.mongodb.items import ItemMapping

    mapping = ItemMapping(key=(), field_names="escape" if policy.field_names == "escape" else "keep",
                          drop_fields=frozenset({policy.ttl_field} if policy.ttl_field else ()))
    return mapping.item(doc)
