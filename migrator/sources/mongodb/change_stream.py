"""A MongoDB change stream as a Spark Structured Streaming source (``mongodb-changestreams``).

Offsets are cluster times (``{"t": seconds, "i": increment}``): a batch holds the changes after its start
and up to its end. The driver only asks the server what time it is (:func:`cluster_time`); one executor task
per batch opens the change stream at the start and reads up to the end, so no change crosses the driver. A
replayed batch reads the same span of the oplog again, and its changes, applied again, give the same
documents.

The end is a time every change up to which is readable: the majority commit point of a replica set (a
change stream returns majority-committed changes only), and the newest oplog entry of the collection on a
server without one (mongo-java-server, whose oplog has no holes). A read stops at the first change past the
end, or when the stream's resume token (its ``postBatchResumeToken``) has passed it.

Each change becomes a row with the whole document as raw BSON, so the target receives the exact bytes. With
``fullDocument: updateLookup`` (the default) updates and replaces are puts of the document as it is at read
time; an update whose document is gone since is skipped (its delete follows). With ``required`` (MongoDB 6+, on
a collection with ``changeStreamPreAndPostImages``) each update carries the document as that change left it,
and the server fails the read rather than leave one out. A drop, rename or invalidate of the
collection stops replication with the reason; a position the oplog no longer holds stops it with the way
to recover.

Usable on its own::

    spark.dataSource.register(MongoChangeStreamsDataSource)
    spark.readStream.format("mongodb-changestreams").option("uri", uri).option("database", "shop")
        .option("collection", "orders").option("startAfter", "1796666400.15").load()

Options: ``uri``, ``database``, ``collection`` (required); ``startAfter`` (``seconds.increment``: the first
batch reads changes after that cluster time; left out: from now); ``maxAwaitMs`` (500); ``fullDocument``
(``updateLookup``, or ``required``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pydantic import SecretStr

from ...errors import SourceError, StreamTrimmedError

SCHEMA = ("event_name STRING, keys BINARY, new_image BINARY, sequence_number STRING, shard_id STRING, "
          "approximate_creation_time TIMESTAMP")

#: Server error codes of a position the oplog no longer holds.
HISTORY_LOST = {286, 136, 280}
#: How long a read may go on without reaching its batch's end before it fails (a stream that never
#: reports its progress would otherwise hold the batch forever).
STALL_SECONDS = 120.0
#: Change events that end what a change stream of the collection can follow.
ENDINGS = {"drop": "dropped", "rename": "renamed", "dropDatabase": "dropped with its database",
           "invalidate": "invalidated"}
RECOVER = ("move the savepoint and the checkpoint away and migrate again with a new snapshot")


def cluster_time(client: Any, database: str, collection: str) -> tuple[int, int]:
    """A cluster time up to which every change of the collection can be read now (see the module's doc)."""
    hello = _hello(client)
    majority = (hello.get("lastWrite") or {}).get("majorityOpTime") or {}
    stamp = majority.get("ts") or hello.get("operationTime")
    if stamp is None:
        stamp = _newest_oplog_time(client, f"{database}.{collection}")
    if stamp is None:
        raise SourceError(f"{database}.{collection}: the server reports no cluster time and keeps no oplog, so it has "
                          "no change stream (a standalone server?); replicate from a replica set or a sharded "
                          "cluster, or set target.streamChanges: false to copy a snapshot only")
    return int(stamp.time), int(stamp.inc)


def _hello(client: Any) -> dict:
    from pymongo.errors import OperationFailure

    try:
        return dict(client.admin.command("hello"))
    except OperationFailure:
        return dict(client.admin.command("isMaster"))


def _newest_oplog_time(client: Any, namespace: str) -> Any:
    """The newest oplog entry's time: of ``namespace`` if it has one, else of any namespace."""
    oplog = client["local"]["oplog.rs"]
    for query in ({"ns": namespace}, {}):
        found = list(oplog.find(query, {"ts": 1}).sort("$natural", -1).limit(1))
        if found:
            return found[0]["ts"]
    return None


def parse_time(text: str) -> tuple[int, int]:
    """``seconds.increment`` as a cluster time."""
    seconds, _, inc = text.partition(".")
    try:
        return int(seconds), int(inc or 0)
    except ValueError:
        raise SourceError(f"mongodb-changestreams: startAfter must be seconds.increment, got {text!r}") from None


def token_time(token: Any) -> tuple[int, int] | None:
    """The cluster time a resume token stands for, when its format is known: MongoDB's (``_data`` hex with the
    time after a ``82`` type byte) or mongo-java-server's (16 hex digits of seconds and increment)."""
    data = token.get("_data") if token is not None else None
    if not isinstance(data, str):
        return None
    try:
        if data.startswith("82") and len(data) >= 18:
            return int(data[2:10], 16), int(data[10:18], 16)
        if len(data) == 16:
            return int(data[:8], 16), int(data[8:], 16)
    except ValueError:
        return None
    return None


@dataclass(frozen=True)
class ChangeSpan(InputPartition):
    """The changes of one batch: after ``start``, up to ``end`` (cluster times)."""

    start: tuple[int, int]
    end: tuple[int, int]


@dataclass(frozen=True)
class StreamSettings:
    uri: SecretStr
    database: str
    collection: str
    start: tuple[int, int] | None = None
    max_await_ms: int = 500
    full_document: str = "updateLookup"


def read_span(settings: StreamSettings, span: ChangeSpan, client: Any = None) -> Iterator[tuple]:
    """The rows of the changes in ``span``, in the stream's order (runs on an executor)."""
    from bson import Timestamp, encode
    from bson.raw_bson import RawBSONDocument
    from pymongo.errors import OperationFailure

    namespace = f"{settings.database}.{settings.collection}"
    if client is None:
        from .spec import MongoSourceSpec

        client = MongoSourceSpec(settings.uri, settings.database, settings.collection).shared_client()
    seconds, inc = span.start
    first = Timestamp(seconds, inc + 1) if inc < 0xFFFFFFFF else Timestamp(seconds + 1, 0)
    collection = client[settings.database][settings.collection]
    ordinal = 0
    progress = time.monotonic()
    last_reached: tuple[int, int] | None = None
    try:
        with collection.watch(start_at_operation_time=first, full_document=settings.full_document,
                              max_await_time_ms=settings.max_await_ms) as stream:
            while True:
                event = stream.try_next()
                if event is None:
                    reached = token_time(stream.resume_token)
                    if reached is None or reached >= span.end:
                        return
                    if reached != last_reached:  # the server scanned further (changes of other collections)
                        last_reached, progress = reached, time.monotonic()
                    elif time.monotonic() - progress > STALL_SECONDS:
                        raise SourceError(f"{namespace}: the change stream made no progress for {STALL_SECONDS:.0f} s "
                                          f"at cluster time {reached[0]}.{reached[1]}, before its batch's end "
                                          f"{span.end[0]}.{span.end[1]}; the batch is read again when the query "
                                          "restarts")
                    continue
                progress = time.monotonic()
                stamp = event["clusterTime"]
                if (stamp.time, stamp.inc) > span.end:
                    return
                kind = event["operationType"]
                if kind in ENDINGS:
                    raise SourceError(f"{namespace} was {ENDINGS[kind]} at cluster time {stamp.time}.{stamp.inc}: "
                                      "replication of it ends here (the target keeps what it had); " + RECOVER,
                                      settings.collection)
                row = change_row(event, kind, ordinal, namespace, encode, RawBSONDocument)
                if row is not None:
                    ordinal += 1
                    yield row
    except OperationFailure as exc:
        if exc.code in HISTORY_LOST:
            raise StreamTrimmedError(
                f"{namespace}: the oplog no longer holds the changes after cluster time {seconds}.{inc} "
                f"({exc.details.get('errmsg') if exc.details else exc}): they are lost to this migration. Give the "
                "oplog a longer window (replSetResizeOplog, oplogMinRetentionHours), then " + RECOVER,
                settings.collection) from exc
        raise


def change_row(event: Any, kind: str, ordinal: int, namespace: str, encode: Any, raw_class: Any) -> tuple | None:
    """One change event as a row of :data:`SCHEMA`; None for an update whose document is gone since."""
    document = event.get("fullDocument")
    if kind == "delete":
        name, image = "REMOVE", None
        key = (event.get("documentKey") or {}).get("_id")
    elif kind in ("insert", "update", "replace"):
        name = "INSERT" if kind == "insert" else "MODIFY"
        # mongo-java-server's update events carry the update in documentKey: the document's own _id is
        # the reliable one.
        key = document.get("_id") if document is not None else None
        if key is None:
            return None  # updated, then deleted before this read: the delete comes later in the stream
        image = bytes(document.raw) if isinstance(document, raw_class) else encode(document)
    else:
        return None  # createIndexes and other events that change no document
    if key is None:
        return None
    wall = event.get("wallTime")
    stamp = event["clusterTime"]
    created = wall.replace(tzinfo=timezone.utc) if isinstance(wall, datetime) else datetime.fromtimestamp(
        stamp.time, timezone.utc)
    return name, encode({"_id": key}), image, str(ordinal), namespace, created


class MongoChangeStreamReader(DataSourceStreamReader):
    """Offsets are cluster times; one partition per batch reads the span between two of them."""

    def __init__(self, settings: StreamSettings):
        self.settings = settings
        self._client: Any = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_client"] = None  # driver state: executors build their own
        return state

    def _now(self) -> tuple[int, int]:
        if self._client is None:
            from .spec import MongoSourceSpec

            self._client = MongoSourceSpec(self.settings.uri, self.settings.database,
                                           self.settings.collection).client(raw=False)
        return cluster_time(self._client, self.settings.database, self.settings.collection)

    def initialOffset(self) -> dict:
        seconds, inc = self.settings.start or self._now()
        return {"t": seconds, "i": inc}

    def latestOffset(self, start: dict, limit: Any) -> dict:
        seconds, inc = max(self._now(), (start["t"], start["i"]))
        return {"t": seconds, "i": inc}

    def partitions(self, start: dict, end: dict) -> list[ChangeSpan]:
        first, last = (start["t"], start["i"]), (end["t"], end["i"])
        return [ChangeSpan(first, last)] if last > first else []

    def read(self, partition: ChangeSpan) -> Iterator[tuple]:
        return read_span(self.settings, partition)

    def commit(self, end: dict) -> None:
        """The server keeps no consumer state: Spark's checkpoint holds the offsets."""


class MongoChangeStreamsDataSource(DataSource):
    """The ``mongodb-changestreams`` streaming source: one row per change of one collection (see ``SCHEMA``)."""

    #: Set by :func:`with_settings`: the migrator's connection string never sits in the query's options.
    settings: StreamSettings | None = None

    @classmethod
    def name(cls) -> str:
        return "mongodb-changestreams"

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> MongoChangeStreamReader:
        if self.settings is not None:
            return MongoChangeStreamReader(self.settings)
        options = {k.lower(): v for k, v in self.options.items()}
        missing = [name for name in ("uri", "database", "collection") if not options.get(name.lower())]
        if missing:
            raise SourceError(f"mongodb-changestreams needs the option(s) {', '.join(missing)}")
        start = options.get("startafter")
        return MongoChangeStreamReader(StreamSettings(
            SecretStr(options["uri"]), options["database"], options["collection"],
            parse_time(start) if start else None, int(options.get("maxawaitms", 500)),
            options.get("fulldocument", "updateLookup")))


def with_settings(settings: StreamSettings) -> type[MongoChangeStreamsDataSource]:
    """A subclass of the source bound to ``settings``; Spark pickles it with the class, never into options (where
    the Spark UI would show the connection string)."""
    return type("ConfiguredMongoChangeStreamsDataSource", (MongoChangeStreamsDataSource,), {"settings": settings})
