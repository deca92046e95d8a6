"""Data files of an export in Amazon Ion (``ExportFormat: ION``), read as DynamoDB items.

An ION export writes one Ion value per record, ``{Item: {...}}``, each attribute as the Ion type AWS
maps it to: string, decimal (a number, exact: Ion decimals have arbitrary precision), blob, bool,
null, struct (a map), list, and lists annotated ``$dynamodb_SS``, ``$dynamodb_NS`` or
``$dynamodb_BS`` for the sets. They become the raw DynamoDB JSON that Scan items and DYNAMODB_JSON
lines give (numbers as decimal strings, binary as bytes), so the rest of the pipeline cannot tell
the formats apart. Any other Ion type (float, timestamp, symbol, clob, s-expression) is not in
AWS's mapping and is refused, naming the record and attribute. Needs the ``amazon-ion`` package
(``pip install 'migrator[ion]'``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import IO, Any, Iterator

from ...errors import MigratorError

try:
    from amazon.ion.core import IonType
except ImportError:  # the ion extra is not installed: require_ion says so before any file is read
    IonType = None

FORMAT = "ION"
SETS = {"$dynamodb_SS": "SS", "$dynamodb_NS": "NS", "$dynamodb_BS": "BS"}


def require_ion() -> None:
    """Raise a one-line error naming the extra when ``amazon-ion`` is not installed."""
    try:
        import amazon.ion.simpleion  # noqa: F401
    except ImportError:
        raise MigratorError("this export is in Amazon Ion, which needs the Python module 'amazon.ion': "
                            "pip install 'migrator[ion]'") from None


def ion_records(stream: IO[bytes]) -> Iterator[dict[str, Any]]:
    """The items of an Ion data file (gunzipped), one per record, as they are parsed."""
    from amazon.ion import simpleion
    from amazon.ion.exceptions import IonException

    records = simpleion.load(stream, single_value=False, parse_eagerly=False)
    number = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except IonException as exc:
            raise ValueError(f"record {number + 1} is not valid Ion: {exc}") from None
        number += 1
        try:
            fields = record["Item"].items()
        except (KeyError, TypeError, AttributeError):
            raise ValueError(f"record {number} is not an export item ({{Item: {{...}}}})") from None
        try:
            yield {name: attribute(value, name) for name, value in fields}
        except ValueError as exc:
            raise ValueError(f"record {number}: {exc}") from None


def attribute(value: Any, path: str) -> dict[str, Any]:
    """One Ion value as a DynamoDB attribute value; ``path`` names it in errors (``address.geo``)."""
    kind = getattr(value, "ion_type", None)
    if kind is None or kind == IonType.NULL or getattr(value, "is_null", False):
        return {"NULL": True}
    annotations = [a.text if hasattr(a, "text") else str(a) for a in getattr(value, "ion_annotations", ())]
    if kind == IonType.LIST and annotations and annotations[0] in SETS:
        return _set(SETS[annotations[0]], value, path)
    if kind == IonType.STRING:
        return {"S": str(value)}
    if kind in (IonType.DECIMAL, IonType.INT):
        return {"N": _number(value)}
    if kind == IonType.BLOB:
        return {"B": bytes(value)}
    if kind == IonType.BOOL:
        return {"BOOL": bool(value)}
    if kind == IonType.STRUCT:
        return {"M": {name: attribute(inner, f"{path}.{name}") for name, inner in value.items()}}
    if kind == IonType.LIST:
        return {"L": [attribute(inner, f"{path}[{i}]") for i, inner in enumerate(value)]}
    raise ValueError(f"attribute {path} is an Ion {kind.name.lower()}, which no DynamoDB type maps to")


def _set(tag: str, values: Any, path: str) -> dict[str, Any]:
    member = {"SS": "S", "NS": "N", "BS": "B"}[tag]
    converted = [attribute(v, f"{path}[{i}]") for i, v in enumerate(values)]
    if any(member not in c for c in converted):
        raise ValueError(f"attribute {path} is a {tag} set with a member of another type")
    return {tag: [c[member] for c in converted]}


def _number(value: Any) -> str:
    """A decimal's exact text (``Decimal`` keeps every digit of an Ion decimal)."""
    return str(Decimal(value))
