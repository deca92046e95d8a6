"""MongoDB documents as DynamoDB items, for a DynamoDB or Alternator target: the way back of the DynamoDB-to-MongoDB
mapping (:mod:`migrator.targets.mongodb.documents`), and a mapping of its own for any other collection.

| BSON | DynamoDB |
|---|---|
| string | S |
| int32, int64 | N |
| Decimal128 | N, exact (NaN and infinities: refused) |
| double | N, the shortest decimal that reads back as the same double (NaN and infinities: refused) |
| binary of subtype 0 | B |
| bool, null | BOOL, NULL |
| array, embedded document | L, M (empty ones stay empty) |
| ``{"__dynamodb_set__": "SS", "values": [...]}`` (a tagged set) | SS, NS or BS |
| ``{"__dynamodb_number__": "<text>"}`` (a number beyond Decimal128, ``target.numbers.onOverflow: tagged``) | N |
| ObjectId | ``source.types.objectId``: refused, or its 24 hex digits as S |
| date | ``source.types.date``: refused, ISO 8601 text as S, or epoch milliseconds as N |
| anything else (other binary subtypes, UUID, timestamp, regex, code, MinKey...) | ``source.types.other``: refused, or its canonical extended JSON as S |

A number DynamoDB cannot hold (more than 38 digits, beyond 1E-130 to 9.99E+125) is refused. A refused value sends
its document to the dead letter, with the field's path in the reason.

The item's primary key comes from ``_id`` (``source.key``): the ``_id`` itself, or fields of an ``_id`` that is a
document, so that a delete, which carries only the ``_id``, names the item it deletes. ``_id`` becomes no other
attribute. A field of the document with a key attribute's name must hold the same value (the DynamoDB-to-MongoDB
mapping keeps the key attributes as fields too); a different value is refused rather than overwritten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from ...convert import blob
from ...errors import ConversionError
from ...targets.mongodb.documents import ESCAPED_DOLLAR, ESCAPED_DOT, ESCAPED_UNDERSCORE, NUMBER_TAG, SET_TAG
from ...validation import values_equal

#: DynamoDB's number domain: 38 significant digits, magnitudes from 1E-130 to below 1E+126.
MAX_DIGITS, MIN_EXPONENT, MAX_EXPONENT = 38, -130, 125
SET_ELEMENTS = {"SS": "S", "NS": "N", "BS": "B"}


@dataclass(frozen=True)
class ItemMapping:
    """How documents become items (``source.key``, ``source.types``, ``source.fieldNames``, ``source.dropFields``);
    picklable."""

    key: tuple[tuple[str, str], ...] = (("_id", "_id"),)
    object_id: str = "error"
    date: str = "error"
    other: str = "error"
    field_names: str = "escape"
    drop_fields: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, source: Any) -> "ItemMapping":
        types = source.types
        return cls(tuple(source.key_attributes), types.object_id, types.date, types.other, source.field_names,
                   frozenset(source.drop_fields))

    @property
    def key_names(self) -> list[str]:
        return [name for name, _ in self.key]

    def item(self, document: Mapping[str, Any]) -> dict[str, Any]:
        """The item of ``document``.

        Raises
        ------
        ConversionError
            A value DynamoDB cannot hold under this mapping (the message names the field), or no usable key.
        """
        if "_id" not in document:
            raise ConversionError("the document has no _id")
        out = self.key_of(document["_id"])
        key_paths = dict(self.key)
        for name, value in document.items():
            if name == "_id" or name in self.drop_fields:
                continue
            attribute = self._name(name, top=True)
            converted = self._value(value, attribute)
            if attribute in out and attribute in key_paths:
                if not values_equal(out[attribute], converted):
                    raise ConversionError(f"field {attribute!r} holds {_show(converted)} but the key takes "
                                          f"{_show(out[attribute])} from {key_paths[attribute]} (source.key)")
                continue
            if attribute in out:
                raise ConversionError(f"two fields become the attribute {attribute!r} (source.fieldNames: escape "
                                      "restores escaped names)")
            out[attribute] = converted
        return out

    def key_of(self, document_id: Any) -> dict[str, Any]:
        """The item's primary key for a document's ``_id``."""
        out = {}
        for name, path in self.key:
            value = document_id
            if path != "_id":
                field = path[len("_id."):]
                if not isinstance(document_id, Mapping) or field not in document_id:
                    raise ConversionError(f"_id {show_id(document_id)} has no field {field!r} for the key attribute "
                                          f"{name!r} (source.key)")
                value = document_id[field]
            converted = self._value(value, path)
            ((tag, inner),) = converted.items()
            if tag not in ("S", "N", "B"):
                raise ConversionError(f"{path}: a key attribute ({name!r}) is a string, a number or a binary in "
                                      f"DynamoDB, not {_kind(tag)}")
            if tag in ("S", "B") and not inner:
                raise ConversionError(f"{path}: an empty {_kind(tag)} cannot be a key attribute ({name!r})")
            out[name] = converted
        return out

    def id_filter(self, keys: list[Mapping[str, Any]]) -> dict[str, Any]:
        """A ``find`` filter for the documents of these item keys (every BSON value each key value may come from)."""
        clauses = []
        for key in keys:
            clause = {}
            for name, path in self.key:
                ((tag, inner),) = key[name].items()
                clause[path] = {"$in": self._candidates(tag, inner)}
            clauses.append(clause)
        return {"$or": clauses} if clauses else {"_id": {"$in": []}}

    # -- values ---------------------------------------------------------------------------------------------

    def _name(self, name: str, top: bool = False) -> str:
        if self.field_names != "escape":
            return name
        if top and name == ESCAPED_UNDERSCORE + "id":
            return "_id"
        name = name.replace(ESCAPED_DOT, ".")
        return "$" + name[1:] if name.startswith(ESCAPED_DOLLAR) else name

    def _value(self, value: Any, path: str) -> dict[str, Any]:
        import bson

        if isinstance(value, bool):
            return {"BOOL": value}
        if value is None:
            return {"NULL": True}
        if isinstance(value, str):
            return {"S": value}
        if isinstance(value, int):
            return {"N": _number(Decimal(value), path)}
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ConversionError(f"{path}: {value} has no DynamoDB number")
            return {"N": _number(Decimal(repr(value)), path)}
        if isinstance(value, bson.Decimal128):
            number = value.to_decimal()
            if not number.is_finite():
                raise ConversionError(f"{path}: {number} has no DynamoDB number")
            return {"N": _number(number, path)}
        if isinstance(value, bytes) and getattr(value, "subtype", 0) == 0:  # bson.Binary is bytes with a subtype
            return {"B": bytes(value)}
        if isinstance(value, list):
            return {"L": [self._value(v, f"{path}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, Mapping):
            if set(value.keys()) == {NUMBER_TAG} and isinstance(value[NUMBER_TAG], str):
                return {"N": _number(_decimal(value[NUMBER_TAG], path), path)}
            if set(value.keys()) == {SET_TAG, "values"} and value[SET_TAG] in SET_ELEMENTS:
                return self._set(value[SET_TAG], value["values"], path)
            return {"M": {self._name(k): self._value(v, f"{path}.{k}") for k, v in value.items()}}
        return self._other(value, path)

    def _set(self, tag: str, values: Any, path: str) -> dict[str, Any]:
        element = SET_ELEMENTS[tag]
        out = []
        for i, value in enumerate(values if isinstance(values, list) else [values]):
            if tag == "NS" and isinstance(value, str):  # kept as text by target.numbers.onOverflow: string
                converted = {"N": _number(_decimal(value, f"{path}[{i}]"), f"{path}[{i}]")}
            else:
                converted = self._value(value, f"{path}[{i}]")
            if element not in converted:
                raise ConversionError(f"{path}[{i}]: a {tag} set holds {_kind(next(iter(converted)))}")
            out.append(converted[element])
        if not out:
            raise ConversionError(f"{path}: an empty {tag} set (DynamoDB has none)")
        return {tag: out}

    def _other(self, value: Any, path: str) -> dict[str, Any]:
        import datetime

        import bson
        from bson import json_util

        if isinstance(value, bson.ObjectId):
            if self.object_id == "string":
                return {"S": str(value)}
            raise ConversionError(f"{path}: ObjectId {value} has no DynamoDB type; set source.types.objectId: string "
                                  "to write its hex digits")
        if isinstance(value, (datetime.datetime, bson.DatetimeMS)):
            millis = int(bson.DatetimeMS(value)) if isinstance(value, datetime.datetime) else int(value)
            if self.date == "number":
                return {"N": str(millis)}
            if self.date == "string":
                return {"S": _iso(millis)}
            raise ConversionError(f"{path}: a date has no DynamoDB type; set source.types.date: string (ISO 8601) "
                                  "or number (epoch milliseconds)")
        if self.other == "string":
            return {"S": json_util.dumps(value, json_options=json_util.CANONICAL_JSON_OPTIONS)}
        raise ConversionError(f"{path}: a {type(value).__name__} has no DynamoDB type; set source.types.other: string "
                              "to write its extended JSON")

    def _candidates(self, tag: str, inner: Any) -> list[Any]:
        """The BSON values a key value of type ``tag`` may have been, under this mapping."""
        import bson
        from bson import json_util

        if tag == "B":
            return [bson.Binary(blob(inner), 0)]
        if tag == "N":
            number = Decimal(inner)
            out: list[Any] = [bson.Decimal128(number)] if _significant(number) <= 34 else []
            if number == number.to_integral_value() and -(2**63) <= number < 2**63:
                out.append(bson.Int64(int(number)))
                if self.date == "number":
                    out.append(bson.DatetimeMS(int(number)))
            if Decimal(repr(float(number))) == number:
                out.append(float(number))
            return out
        out = [inner]
        if self.object_id == "string" and bson.ObjectId.is_valid(inner):
            out.append(bson.ObjectId(inner))
        if self.other == "string" and inner.startswith("{"):
            try:
                out.append(json_util.loads(inner))
            except (ValueError, TypeError):
                pass
        return out


#: The attribute that marks a document the validator read but that cannot be an item (see :func:`unconvertible`).
UNCONVERTIBLE = "migrator: not an item"


def unconvertible(mapping: ItemMapping, document: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """What the validator compares for a document that cannot be an item (it went to the dead letter): its key, or
    its ``_id`` as text under each key attribute, with the reason, so that it shows as a difference and is not
    skipped."""
    try:
        key = mapping.key_of(document["_id"])
    except (ConversionError, KeyError):
        key = {name: {"S": f"_id {show_id(document.get('_id'))}"} for name in mapping.key_names}
    return {**key, UNCONVERTIBLE: {"S": reason}}


def _number(number: Decimal, path: str) -> str:
    if number.is_zero():
        return "0"
    if _significant(number) > MAX_DIGITS:
        raise ConversionError(f"{path}: {number} has more than {MAX_DIGITS} significant digits (DynamoDB's limit)")
    if not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        raise ConversionError(f"{path}: {number} is outside DynamoDB's number range (1E-130 to 9.99E+125)")
    return str(number)


def _significant(number: Decimal) -> int:
    """Significant digits, without rounding (``normalize`` would round to the context's 28)."""
    return len("".join(map(str, number.as_tuple().digits)).rstrip("0"))


def _decimal(text: str, path: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ConversionError(f"{path}: {text[:40]!r} is kept as a number's text but is not a number") from None


def _iso(millis: int) -> str:
    import datetime

    moment = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _kind(tag: str) -> str:
    return {"S": "string", "N": "number", "B": "binary", "BOOL": "boolean", "NULL": "null", "L": "list",
            "M": "map", "SS": "string set", "NS": "number set", "BS": "binary set"}.get(tag, tag)


def _show(value: Mapping[str, Any]) -> str:
    ((tag, inner),) = value.items()
    text = repr(inner)
    return f"{text if len(text) <= 40 else text[:37] + '...'} ({tag})"


def show_id(document_id: Any) -> str:
    """An ``_id`` for messages: relaxed extended JSON, cut at 80 characters."""
    from bson import json_util

    text = json_util.dumps(document_id, json_options=json_util.RELAXED_JSON_OPTIONS)
    return text if len(text) <= 80 else text[:77] + "..."
