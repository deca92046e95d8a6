"""``_id`` ranges of a collection: the snapshot's segments, their queries, and positions a savepoint can keep.

A range is ``[low, high)`` in MongoDB's order of BSON values (:data:`OPEN`: unbounded; None is the null
``_id``). MongoDB compares a query's ``$gt``/``$lt`` only with values of the same type class ("type
bracketing": ``{_id: {$lt: "m"}}`` matches no number), while a collection's ``_id`` may mix types.
:func:`range_filter` therefore spells a range out per class: the part of ``low``'s class at or above it,
every class strictly between, and the part of ``high``'s class below it. The split points (the server's
``splitVector``, the ``_id`` index or a sample: :func:`split_points`) are sorted here (:func:`order_key`); a
point out of place would only make one range empty and another read twice, never leave a document out. The
validator's ranges and its comparison form (:func:`compared`) are here too, for the source and a MongoDB target
alike.
"""

from __future__ import annotations

import logging
from typing import Any

from ...errors import SourceError

log = logging.getLogger(__name__)

#: BSON type classes in MongoDB's comparison order, each with the ``$type`` aliases it holds (arrays cannot be
#: an ``_id``). The deprecated types (undefined, symbol, DBPointer, JavaScript) are left out: a query never
#: names them, so an ``_id`` of one falls in the classes "between" two bounds of every range that has such a
#: part (read twice at worst, never left out).
CLASSES: tuple[tuple[str, ...], ...] = (
    ("minKey",), ("null",), ("int", "long", "double", "decimal"), ("string",), ("object",), ("array",),
    ("binData",), ("objectId",), ("bool",), ("date",), ("timestamp",), ("regex",), ("maxKey",),
)
#: The classes of one value each, which ``$gte``/``$lt`` need not (and mongo-java-server cannot) compare.
SINGLE = ("minKey", "null", "maxKey")
#: A side of a range without a bound.
OPEN: Any = type("Open", (), {"__repr__": lambda self: "OPEN"})()
#: Documents sampled per segment when choosing split points (more is a better balance, at a higher cost).
SAMPLES_PER_SEGMENT = 32
MAX_SAMPLES = 100_000
SAMPLE_ATTEMPTS = 3
#: Collections up to this many documents are split at exact quantiles of the _id index (see split_points).
SKIP_LIMIT = 1_000_000


def type_class(value: Any) -> int:
    """The place of ``value``'s BSON type class in :data:`CLASSES`."""
    import datetime
    import decimal
    import re

    import bson
    from bson.max_key import MaxKey
    from bson.min_key import MinKey
    from bson.regex import Regex

    checks: list[tuple[Any, str]] = [
        (MinKey, "minKey"), (MaxKey, "maxKey"), (type(None), "null"), (bool, "bool"),
        ((int, float, bson.Int64, bson.Decimal128, decimal.Decimal), "int"), (str, "string"),
        (bson.ObjectId, "objectId"), ((bytes, bson.Binary), "binData"), (datetime.datetime, "date"),
        (bson.Timestamp, "timestamp"), ((Regex, re.Pattern), "regex"), ((list, tuple), "array"), (dict, "object"),
    ]
    if isinstance(value, bson.Code):  # a str subclass: checked before strings
        raise SourceError(f"an _id of type {type(value).__name__} (a deprecated BSON type) cannot bound a range of "
                          "the snapshot; set source.scanSegments: 1 to copy the collection in one range")
    for kinds, alias in checks:
        if isinstance(value, kinds):
            return next(i for i, aliases in enumerate(CLASSES) if alias in aliases)
    if hasattr(value, "keys"):  # a raw or SON document
        return next(i for i, aliases in enumerate(CLASSES) if "object" in aliases)
    raise SourceError(f"an _id of type {type(value).__name__} has no place in BSON's order")


def range_filter(low: Any = OPEN, high: Any = OPEN, low_inclusive: bool = True) -> dict:
    """The query of ``_id`` in ``[low, high)`` (``(low, high)`` when not ``low_inclusive``) across type classes;
    :data:`OPEN` leaves a side unbounded (None is the null ``_id``)."""
    if low is OPEN and high is OPEN:
        return {}
    low_op = "$gte" if low_inclusive else "$gt"
    first = type_class(low) if low is not OPEN else -1
    last = type_class(high) if high is not OPEN else len(CLASSES)
    if first == last:
        return {"_id": {low_op: low, "$lt": high}}
    parts: list[dict] = []
    if low is not OPEN and CLASSES[first][0] in SINGLE:
        # One value in its class (null, MinKey, MaxKey): it is the bound itself, and nothing is after it there.
        if low_inclusive:
            parts.append({"_id": {"$type": list(CLASSES[first])}})
    elif low is not OPEN:
        parts.append({"_id": {low_op: low, "$type": list(CLASSES[first])}})
    if last - first > 1:
        # Every class strictly between, said as "none of the others" so that the types no query names are in.
        outside = [alias for n, aliases in enumerate(CLASSES) if n <= first or n >= last for alias in aliases]
        parts.append({"_id": {"$not": {"$type": outside}}} if outside else {})
    if high is not OPEN and CLASSES[last][0] not in SINGLE:
        parts.append({"_id": {"$lt": high, "$type": list(CLASSES[last])}})
    if not parts:
        return {"_id": {"$in": []}}  # nothing is in it
    return parts[0] if len(parts) == 1 else {"$or": parts}


def split_points(collection: Any, segments: int, count: int, size_bytes: int = 0) -> list[Any]:
    """Up to ``segments - 1`` distinct ``_id`` values that cut the collection into ranges of about equal
    document counts (``size_bytes``: the collection's data size, for ``splitVector``).

    Where the server allows it (a replica set or standalone ``mongod``, with the ``splitVector`` action), the
    server's own ``splitVector`` walks the ``_id`` index and returns keys that cut it into chunks of equal bytes,
    as MongoDB's Spark connector does; nothing but the keys crosses the network. Elsewhere (``mongos``, Atlas
    shared tiers, mongo-java-server), up to :data:`SKIP_LIMIT` documents they are exact quantiles found by
    skipping through the ``_id`` index (cheap at that size); above it, quantiles of a random sample of ``_id``
    (``$sample``): a walk would cost too much there, and a sample's error is small. The points are sorted here
    (:func:`order_key`), not by the server: any order of the points still covers every document (a misplaced
    point only makes a range empty and another read twice)."""
    if segments <= 1 or count <= 1:
        return []
    vector = _split_vector(collection, segments, size_bytes) if size_bytes > 0 else None
    if vector:
        return vector
    ids = _skipped(collection, segments, count) if count <= SKIP_LIMIT else None
    if ids is None:
        ids = _sampled(collection, segments)
    if ids is None and count > SKIP_LIMIT:
        ids = _skipped(collection, segments, count)
    if ids is None:
        # Neither works (mongo-java-server: a mixed-type sort, and $sample, both failed): the first _id values in
        # natural order. The ranges are less even, and still cover every document.
        log.warning("%s: split points from the first _id values (the ranges may be uneven)", collection.full_name)
        ids = [doc["_id"] for doc in collection.find({}, {"_id": 1}).limit(segments * SAMPLES_PER_SEGMENT)]
    ids = sorted(ids, key=order_key)
    points: list[Any] = []
    for n in range(1, segments):
        if not ids:
            break
        candidate = ids[n * len(ids) // segments]
        if not points or encode_id(candidate) != encode_id(points[-1]):
            points.append(candidate)
    return points


#: Chunks asked of ``splitVector`` per segment: more keys than segments, so that the equal-bytes chunks can be
#: grouped into segments of about equal size.
VECTOR_CHUNKS_PER_SEGMENT = 4


def _split_vector(collection: Any, segments: int, size_bytes: int) -> list[Any] | None:
    """Every :data:`VECTOR_CHUNKS_PER_SEGMENT`-th key of the server's ``splitVector`` over ``_id``, sorted; None
    when the server refuses the command (not a ``mongod``, no privilege, no such command) or has no keys."""
    from pymongo.errors import OperationFailure

    chunks = segments * VECTOR_CHUNKS_PER_SEGMENT
    try:
        answer = collection.database.command("splitVector", collection.full_name, keyPattern={"_id": 1},
                                             maxChunkSizeBytes=max(1, size_bytes // chunks))
    except OperationFailure as exc:
        log.info("%s: no splitVector here (%s); split points from the _id index or a sample", collection.full_name,
                 str(exc)[:120])
        return None
    keys = sorted((key["_id"] for key in answer.get("splitKeys", []) if "_id" in key), key=order_key)
    if not keys:
        return None
    # k keys cut k + 1 chunks of about equal bytes; segment n ends after chunk n * (k + 1) / segments.
    points: list[Any] = []
    for n in range(1, segments):
        index = n * (len(keys) + 1) // segments - 1
        if 0 <= index < len(keys) and (not points or encode_id(keys[index]) != encode_id(points[-1])):
            points.append(keys[index])
    return points


def _skipped(collection: Any, segments: int, count: int) -> list[Any] | None:
    """The ``_id`` at each ``n * count / segments`` of the ``_id`` order; None when the server cannot sort them."""
    from pymongo.errors import OperationFailure

    try:
        return [doc["_id"] for n in range(1, segments)
                for doc in collection.find({}, {"_id": 1}).sort("_id", 1).skip(n * count // segments).limit(1)]
    except OperationFailure as exc:
        log.warning("%s: cannot walk the _id index (%s)", collection.full_name, str(exc)[:120])
        return None


def _sampled(collection: Any, segments: int) -> list[Any] | None:
    """A random sample of ``_id``, :data:`SAMPLES_PER_SEGMENT` a segment; None when ``$sample`` keeps failing
    (mongo-java-server's, at random)."""
    from pymongo.errors import OperationFailure

    size = min(MAX_SAMPLES, segments * SAMPLES_PER_SEGMENT)
    for attempt in range(1, SAMPLE_ATTEMPTS + 1):
        try:
            return [doc["_id"] for doc in collection.aggregate([{"$sample": {"size": size}}, {"$project": {"_id": 1}}])]
        except OperationFailure as exc:
            log.warning("%s: $sample failed (attempt %d of %d: %s)", collection.full_name, attempt, SAMPLE_ATTEMPTS,
                        str(exc)[:120])
    return None


def order_key(value: Any) -> tuple:
    """A sort key that follows MongoDB's order of ``_id`` values: by type class, then by value within it (exact
    for numbers, strings, ObjectIds, binary, dates and timestamps; by encoded bytes for documents)."""
    import decimal

    import bson

    rank = type_class(value)
    alias = CLASSES[rank][0]
    if alias == "int":
        number = value.to_decimal() if isinstance(value, bson.Decimal128) else decimal.Decimal(value)
        return rank, (0, number) if not number.is_nan() else (-1, decimal.Decimal(0))
    if alias == "string":
        return rank, value.encode("utf-8")
    if alias == "binData":
        return rank, (len(value), getattr(value, "subtype", 0), bytes(value))
    if alias == "objectId":
        return rank, value.binary
    if alias in ("bool", "date"):
        return rank, value
    if alias == "timestamp":
        return rank, (value.time, value.inc)
    if alias == "regex":
        return rank, (getattr(value, "pattern", ""), str(getattr(value, "flags", "")))
    if alias == "object":
        return rank, encode_id(value).encode("utf-8")
    return rank, 0


def bounds(points: list[Any], segment: int) -> tuple[Any, Any]:
    """``(low, high)`` of segment ``segment`` among ``len(points) + 1`` (:data:`OPEN`: unbounded)."""
    low = points[segment - 1] if segment > 0 else OPEN
    high = points[segment] if segment < len(points) else OPEN
    return low, high


def encode_id(value: Any) -> str:
    """An ``_id`` as canonical extended JSON text, exact for every BSON type (for savepoints)."""
    from bson import json_util

    return json_util.dumps({"_id": value}, json_options=json_util.CANONICAL_JSON_OPTIONS)


def decode_id(text: str) -> Any:
    from bson import json_util

    return json_util.loads(text, json_options=json_util.CANONICAL_JSON_OPTIONS)["_id"]



def range_partitions(collection: Any, parts: int, count: int,
                     size_bytes: int = 0) -> list[tuple[str | None, str | None]]:
    """``parts`` ranges of about equal size for the validator, their bounds as extended JSON (None: open)."""
    points = [encode_id(p) for p in split_points(collection, parts, count, size_bytes)]
    return list(zip([None] + points, points + [None]))


def find_range(collection: Any, partition: tuple[str | None, str | None]) -> Any:
    """The documents of a :func:`range_partitions` range (any order)."""
    low, high = (decode_id(b) if b is not None else OPEN for b in partition)
    return collection.find(range_filter(low, high))


def compared(document: Any) -> dict:
    """A document as the validator compares it: the ``_id`` as extended JSON text, every other field as the exact
    bytes of its value (types included; the order of fields is not compared)."""
    import bson

    out = {"_id": {"S": encode_id(document["_id"])}}
    for name, value in document.items():
        if name != "_id":
            out[name] = {"B": bson.encode({"v": value})}
    return out


def compared_ids(keys: list[dict]) -> list[Any]:
    """The ``_id`` values of keys in the :func:`compared` form."""
    return [decode_id(key["_id"]["S"]) for key in keys]
