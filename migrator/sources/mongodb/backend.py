"""A MongoDB collection as a source backend: described, copied by ``_id`` ranges, followed by its change stream.

The stream's position is a cluster time pinned before the first document is read; the "stream ARN" a
savepoint records is ``changestream:<database>.<collection>@<seconds>.<increment>``, which replication
starts after. Changes go straight from the oplog to the target: there is no change log to capture (the
oplog holds them for its window; the reader fails with the way to recover when it no longer does).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from ...config_tables import is_pattern
from ...errors import ConversionError, SourceError
from ...tables import TableInfo
from ...throttle import ThroughputCap
from ..base import PlannedSource
from .items import ItemMapping
from .ranges import encode_id, range_partitions, split_points
from .spec import MongoSourceSpec

#: A new copy's segments: about one per this many bytes of documents, at least one per core.
BYTES_PER_SEGMENT = 64 * 1024 * 1024
MAX_SEGMENTS = 10_000
PREFIX = "changestream:"
SYSTEM_DATABASES = ("admin", "config", "local")


def stream_id(namespace: str, seconds: int, inc: int) -> str:
    return f"{PREFIX}{namespace}@{seconds}.{inc}"


def pinned_time(stream: str) -> tuple[int, int]:
    """The cluster time a :func:`stream_id` pins."""
    from .change_stream import parse_time

    if not stream.startswith(PREFIX) or "@" not in stream:
        raise SourceError(f"the savepoint's stream {stream!r} is not a MongoDB change stream position; move the "
                          "savepoint and checkpoint away to start over")
    return parse_time(stream.rpartition("@")[2])


#: Index options that are recreated on the target (what ``createIndexes`` takes; not the server's own ``v``/``ns``).
INDEX_OPTIONS = ("unique", "sparse", "expireAfterSeconds", "partialFilterExpression", "collation", "hidden", "weights",
                 "default_language", "language_override", "textIndexVersion", "2dsphereIndexVersion", "bits", "min",
                 "max", "wildcardProjection")


def described_index(index: Any) -> dict:
    """One index of ``listIndexes`` as :attr:`~migrator.tables.TableInfo.document_indexes` keeps it. A text index
    is listed on its internal keys (``_fts``, ``_ftsx``): it is described on the fields its weights name."""
    keys: list[list[Any]] = []
    for name, direction in index["key"].items():
        if name == "_fts":
            keys += [[field, "text"] for field in (index.get("weights") or {})]
        elif name != "_ftsx":
            keys.append([name, direction])
    options = {name: _plain(index[name]) for name in INDEX_OPTIONS if name in index}
    return {"name": index["name"], "key": keys, "options": options}


def _plain(value: Any) -> Any:
    """SON and its nested values as plain dicts (JSON-able for plans, picklable for tasks)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def key_types(spec: MongoSourceSpec) -> dict[str, str]:
    """The key attributes' DynamoDB types, from the first document's ``_id`` (S for an empty collection). A first
    ``_id`` that cannot be a key stops the plan: every document would go to the dead letter."""
    client = spec.client()
    try:
        first = spec.collection_of(client).find_one({}, {"_id": 1})
    finally:
        client.close()
    if first is None:
        return {name: "S" for name in spec.mapping.key_names}
    try:
        key = spec.mapping.key_of(first["_id"])
    except ConversionError as exc:
        raise SourceError(f"the documents of {spec.namespace} cannot be items of a DynamoDB table: the first "
                          f"document's {exc}; see source.key and source.types", spec.collection) from None
    return {name: next(iter(value)) for name, value in key.items()}


def _key_schema(mapping: ItemMapping) -> list[tuple[str, str]]:
    return list(zip(mapping.key_names, ("HASH", "RANGE")))


class RawBsonChanges:
    """How replication reads the keys and images of this source's rows: raw BSON. Two keys are one ``_id`` as
    MongoDB's index has it: numbers by value (``1``, ``Int64(1)`` and ``1.0`` are one), anything else by its bytes."""

    @staticmethod
    def keys(value: Any) -> Any:
        from bson.raw_bson import RawBSONDocument

        return RawBSONDocument(bytes(value))

    @staticmethod
    def identity(keys: Any) -> Any:
        import decimal

        import bson

        value = keys["_id"]
        if isinstance(value, bson.Decimal128):
            value = value.to_decimal()
        if isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool):
            number = decimal.Decimal(value)
            if number.is_finite():
                return "number", number.normalize()
        return bytes(keys.raw)

    image = keys


class MongoSource:
    """The driver half: the collection's size, ``_id`` split points, the cluster time, the change stream."""

    streams = True
    #: Changes stay in the oplog while the snapshot runs: no change log is captured.
    change_log = False
    #: The oplog's window is the server's setting; the reader detects a position it no longer holds.
    retention_seconds = None
    pin_note = "replication applies every change after that cluster time"
    changes = RawBsonChanges()

    def describe(self, config: Any, max_connections: int = 10) -> PlannedSource:
        spec = self._spec(config)
        return PlannedSource(self._info(spec), spec)

    @staticmethod
    def _spec(config: Any) -> MongoSourceSpec:
        src = config.source
        mapping = ItemMapping.from_config(src) if config.target.type != "mongodb" else None
        return MongoSourceSpec(src.uri, src.database, src.collection, src.redacted_uri(), src.batch_size,
                               src.max_await_ms, src.full_document, mapping=mapping)

    def target_spec(self, config: Any, spec: Any) -> Any:
        """The spec the snapshot and replication write through: into a DynamoDB-compatible target, the target's own,
        fed items mapped from the documents (:class:`.item_writer.ItemTarget`)."""
        if config.target.type == "mongodb":
            return spec
        from .item_writer import ItemTarget

        return ItemTarget(spec, ItemMapping.from_config(config.source))

    def mapping_lines(self, config: Any, info: TableInfo) -> list[str]:
        """How documents become items, for the plan (into a DynamoDB-compatible target)."""
        if config.target.type == "mongodb":
            return []
        src, types = config.source, config.source.types
        key = ", ".join(f"{name} = {path}" for name, path in src.key_attributes)
        dropped = f"; dropped: {', '.join(src.drop_fields)}" if src.drop_fields else ""
        lines = [f"  items        : key {key}; ObjectId {types.object_id}, date {types.date}, other types {types.other}; "
                 f"field names {src.field_names}{dropped}"]
        if info.document_indexes:
            names = ", ".join(index["name"] for index in info.document_indexes)
            lines.append(f"  indexes      : not recreated in DynamoDB ({names}); add GSIs to the target yourself")
        return lines

    def _info(self, spec: MongoSourceSpec) -> TableInfo:
        from pymongo.errors import PyMongoError

        client = spec.client(raw=False)
        try:
            database = client[spec.database]
            if not database.list_collection_names(filter={"name": spec.collection}):
                raise SourceError(f"source collection {spec.namespace!r} not found at {spec.redacted_uri}; check "
                                  "source.database and source.collection", spec.collection)
            count = database[spec.collection].estimated_document_count()
            stats = database.command("collStats", spec.collection)
            indexes = [described_index(i) for i in database[spec.collection].list_indexes() if i["name"] != "_id_"]
        except PyMongoError as exc:
            raise SourceError(f"cannot describe {spec.namespace} at {spec.redacted_uri} ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); check source.uri and the network", spec.collection) from exc
        finally:
            client.close()
        size = int(stats.get("size") or 0) or int(stats.get("avgObjSize") or 0) * count
        if spec.mapping is not None:
            return TableInfo(name=spec.namespace, key_schema=_key_schema(spec.mapping),
                             attribute_types=key_types(spec), item_count=count, size_bytes=size,
                             document_indexes=indexes)
        return TableInfo(name=spec.namespace, key_schema=[("_id", "HASH")], attribute_types={}, item_count=count,
                         size_bytes=size, document_indexes=indexes, billing_mode="")

    def list_tables(self, config: Any) -> list[str]:
        """The namespaces (``<database>.<collection>``) ``tables`` selects from: the collections of the databases
        its ``include`` entries name, or of every database when one is a pattern (``listDatabases``). System
        databases and collections and views are left out."""
        from pymongo.errors import PyMongoError

        src = config.source
        named = {entry.partition(".")[0] for entry in config.tables.include}
        spec = MongoSourceSpec(src.uri, "admin", "", src.redacted_uri())
        client = spec.client(raw=False)
        try:
            databases = (client.list_database_names() if any(is_pattern(name) for name in named) else sorted(named))
            return [f"{database}.{info['name']}" for database in databases if database not in SYSTEM_DATABASES
                    for info in client[database].list_collections()
                    if info.get("type", "collection") == "collection" and not info["name"].startswith("system.")]
        except PyMongoError as exc:
            raise SourceError(f"tables: cannot list the namespaces at {spec.redacted_uri} ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); check source.uri and the user's listDatabases and listCollections "
                              "privileges") from exc
        finally:
            client.close()

    def permissions(self, config: Any) -> list[Any]:
        return []  # MongoDB's own users and roles

    def preflight(self, config: Any) -> list[Any]:
        from .preflight import preflight

        return preflight(config, self._spec(config))

    def segment_count(self, config: Any, described: PlannedSource, cores: int) -> int:
        if config.source.scan_segments:
            return config.source.scan_segments
        # A multiple of the cores: the snapshot deals segments to one task per core, so 3 segments on 2 cores would
        # leave one core with twice the work of the other.
        needed = min(MAX_SEGMENTS, math.ceil(described.info.size_bytes / BYTES_PER_SEGMENT))
        return max(cores, math.ceil(needed / cores) * cores)

    def segments_line(self, config: Any, cores: int) -> str:
        if config.source.scan_segments:
            return "source.scanSegments _id ranges"
        return f"_id ranges, one per 64 MiB, a multiple of the cores; {cores} cores"

    def read_cap(self, config: Any, info: TableInfo, tasks: int) -> ThroughputCap:
        return ThroughputCap(None, None, "MongoDB: no capacity units")

    def read_partitions(self, config: Any, described: PlannedSource, cores: int) -> list[Any]:
        """``_id`` ranges (two per core), their bounds as extended JSON."""
        spec = described.spec
        client = spec.client(raw=False)
        try:
            return range_partitions(spec.collection_of(client), cores * 2, described.info.item_count,
                                    described.info.size_bytes)
        finally:
            client.close()

    def deferred_segments(self, config: Any, savepoint: Any) -> str | None:
        return None

    def snapshot_source(self, config: Any, described: PlannedSource, savepoint: Any, save: Callable[[], None],
                        not_before: float | None, abort: Any = None) -> tuple[Any, int, int]:
        """The ranges' split points, chosen once (after the pin) and kept in the savepoint, so that a rerun's
        segments are the first run's."""
        spec = described.spec
        if savepoint.split_points is None:
            client = spec.client(raw=False)
            try:
                points = split_points(spec.collection_of(client), savepoint.total_segments, described.info.item_count,
                                      described.info.size_bytes)
            finally:
                client.close()
            savepoint.split_points = [encode_id(p) for p in points]
            save()
        ranged = dataclasses.replace(spec, split_points=tuple(savepoint.split_points))
        return ranged, len(savepoint.split_points) + 1, described.info.item_count

    # -- the change stream -------------------------------------------------------------------------------

    def stream_problem(self, info: TableInfo) -> str | None:
        return None  # a server without change streams fails the pin, with the reason

    def stream_plan(self, config: Any, info: TableInfo) -> str:
        return (f"follow the change stream of {config.source.namespace} (the oplog must keep each change until "
                "replication reads it)")

    def stream_state(self, config: Any, spec: MongoSourceSpec) -> TableInfo:
        return self._info(spec)

    def stream_lost(self, info: TableInfo, pinned: str) -> str | None:
        pinned_time(pinned)  # a position of this kind, or the error says what to do
        return None

    def enable_stream(self, spec: MongoSourceSpec, info: TableInfo, view_type: str) -> str:
        """Pin the cluster time up to which the snapshot will hold every change."""
        from .change_stream import cluster_time

        client = spec.client(raw=False)
        try:
            seconds, inc = cluster_time(client, spec.database, spec.collection)
        finally:
            client.close()
        return stream_id(spec.namespace, seconds, inc)

    def open_stream(self, spark: Any, spec: MongoSourceSpec, stream_arn: str, checkpoint: str,
                    trigger_seconds: float, max_records: int, read_partitions: int,
                    pinned_at: float | None = None) -> Any:
        from .change_stream import StreamSettings, with_settings

        settings = StreamSettings(spec.uri, spec.database, spec.collection, pinned_time(stream_arn), spec.max_await_ms,
                                  spec.full_document)
        spark.dataSource.register(with_settings(settings))
        return spark.readStream.format("mongodb-changestreams").load()

    def read_stats(self, checkpoint: str) -> Callable[[int], Any]:
        return lambda batch_id: None


BACKEND = MongoSource()
