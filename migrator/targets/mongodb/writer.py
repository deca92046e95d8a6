"""Writing to MongoDB: unordered bulk ``ReplaceOne(upsert)`` and ``DeleteOne`` by a derived ``_id``.

Every write is by ``_id`` (derived from the DynamoDB key, never generated), so a retried task or a
replayed stream batch leaves the collection as it was. Documents are encoded to BSON once, in the
sending threads: their size cuts bulk writes by bytes and sends a document over 16 MiB to the dead
letter instead of failing the bulk write it would have been in.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

from pydantic import SecretStr

from ...convert import item_key
from ...deadletter import DeadLetterWriter
from ...errors import ConversionError, TargetError
from ...mongo_access import pymongo_module, raw_document_class, shared_client
from ...sources.mongodb.ranges import compared, compared_ids, find_range
from ...throttle import Backoff
from ..pipeline import BatchingWriter
from .documents import BsonPolicy, ConversionNotes, document_id, from_document, to_document

log = logging.getLogger(__name__)

#: MongoDB's document size limit.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: Duplicate key: two concurrent upserts of one new _id; retrying the loser succeeds.
DUPLICATE_KEY = 11000


def _id_bytes(document: Any) -> bytes:
    """The BSON of ``{_id: ...}`` of a raw document: equal ``_id`` values, equal bytes."""
    from bson import encode

    return encode({"_id": document["_id"]})


def _pymongo() -> Any:
    return pymongo_module(TargetError, "target")


@dataclass(frozen=True)
class MongoTargetSpec:
    """How executors reach and write the collection; picklable (the URI stays a ``SecretStr``)."""

    uri: SecretStr
    database: str
    collection: str
    key_names: list[str]
    policy: BsonPolicy = field(default_factory=BsonPolicy)
    batch_size: int = 1000
    batch_bytes: int = 8 * 1024 * 1024
    concurrency: int = 4
    write_concern: dict[str, Any] = field(default_factory=dict)
    redacted_uri: str = ""
    #: The source is a MongoDB collection: documents are written as they come, and the validator compares them
    #: field by field (:func:`~migrator.sources.mongodb.ranges.compared`), not as DynamoDB items.
    documents: bool = False
    #: The validator may fetch items by key (see TargetSpec).
    fetches_by_key = True

    @property
    def name(self) -> str:
        return f"{self.database}.{self.collection}"

    def describe(self) -> str:
        return f"{self.name} ({self.redacted_uri})"

    def client(self, server_selection_ms: int = 30_000) -> Any:
        pymongo = _pymongo()
        return pymongo.MongoClient(self.uri.get_secret_value(), appname="migrator",
                                   maxPoolSize=self.concurrency + 2, serverSelectionTimeoutMS=server_selection_ms,
                                   **self.write_concern)

    def shared_client(self) -> Any:
        """A client built once per Python process for this URI, pool size and write concern (see
        :func:`~migrator.mongo_access.shared_client`)."""
        key = ("target", self.uri.get_secret_value(), self.concurrency, tuple(sorted(self.write_concern.items())))
        return shared_client(key, self.client)

    def writer(self, dead_letter: DeadLetterWriter | None, dedupe: bool = False, snapshot: bool = False,
               **_: Any) -> "MongoWriter":
        # A snapshot writes each key once: inserting first is cheaper for the server, and a document
        # already there (a resumed segment, an appended collection) is replaced instead. A change
        # stream updates existing documents: it replaces from the start.
        return MongoWriter(self, dead_letter=dead_letter, dedupe=dedupe, insert_first=snapshot,
                           client=self.shared_client(), close_client=False)

    def stored(self, item: dict) -> dict:
        """Through the mapping and back: what a read of the document returns."""
        if self.documents:
            return item  # a MongoDB source's document, compared as it is
        try:
            return from_document(to_document(item, self.key_names, self.policy), self.policy)
        except ConversionError:
            return item  # not representable: the target should not have it (dead letter); compare as is

    def read(self, partition: tuple[Any, Any]) -> Iterator[dict]:
        """Every document whose ``_id`` is in ``[low, high)`` (None: unbounded), as DynamoDB JSON (or, from a MongoDB
        source, as the validator compares documents)."""
        if self.documents:
            yield from self._compared(lambda c: find_range(c, partition))
            return
        low, high = partition
        query: dict[str, Any] = {}
        if low is not None:
            query.setdefault("_id", {})["$gte"] = low
        if high is not None:
            query.setdefault("_id", {})["$lt"] = high
        client = self.client()
        try:
            for doc in client[self.database][self.collection].find(query):
                yield from_document(doc, self.policy)
        finally:
            client.close()

    def fetch(self, keys: list[dict]) -> list[dict]:
        if self.documents:
            return list(self._compared(lambda c: c.find({"_id": {"$in": compared_ids(keys)}})))
        client = self.client()
        try:
            ids = [document_id(k, self.key_names, self.policy) for k in keys]
            return [from_document(d, self.policy)
                    for d in client[self.database][self.collection].find({"_id": {"$in": ids}})]
        finally:
            client.close()

    def _compared(self, query: Callable[[Any], Any]) -> Iterator[dict]:
        client = self.client()
        try:
            for document in query(client[self.database][self.collection]):
                yield compared(document)
        finally:
            client.close()


class MongoWriter(BatchingWriter):
    """Puts (as ReplaceOne upserts) and deletes by ``_id``, in unordered bulk writes.

    Items that cannot become a document (a number Decimal128 cannot hold, a field name the policy
    refuses, over 16 MiB) and documents the server refuses go to the dead letter with the reason;
    without a dead letter they fail the task, naming the item.
    """

    def __init__(self, spec: MongoTargetSpec, dead_letter: DeadLetterWriter | None = None, dedupe: bool = False,
                 backoff: Backoff | None = None, sleep: Callable[[float], None] = time.sleep, max_transient: int = 10,
                 client: Any = None, max_document_bytes: int = MAX_DOCUMENT_BYTES, insert_first: bool = False,
                 close_client: bool = True):
        super().__init__(spec.name, spec.key_names, spec.batch_size, spec.concurrency, dedupe)
        self.spec = spec
        self.dead_letter = dead_letter
        self.backoff = backoff or Backoff(base=0.1, cap=10.0)
        self.sleep = sleep
        self.max_transient = max_transient
        self.notes = ConversionNotes()
        self.max_document_bytes = max_document_bytes
        self.insert_first = insert_first
        self._client = client or spec.client()
        self._close_client = close_client  # False for a client shared by the process
        self._collection = self._client[spec.database][spec.collection]
        self._pymongo = _pymongo()

    def close(self) -> None:
        super().close()
        if self._close_client:
            self._client.close()

    # -- requests --------------------------------------------------------------------------------
    # Items are converted in the sending threads, not here: the task's main thread only scans, so
    # conversion overlaps with waiting for the next Scan page.

    def _put_request(self, item: Mapping[str, Any]) -> tuple[Any, int]:
        return (None, item, True), 0

    def _delete_request(self, key: Mapping[str, Any]) -> tuple[Any, int] | None:
        if isinstance(key, raw_document_class()):  # a MongoDB source's key: the _id itself
            return (self._pymongo.DeleteOne({"_id": key["_id"]}), key, False), 0
        try:
            _id = document_id(key, self.key_names, self.spec.policy)
        except ConversionError as exc:
            self._refuse(key, str(exc), put=False)
            return None
        return (self._pymongo.DeleteOne({"_id": _id}), key, False), 0

    def _operation(self, item: Mapping[str, Any], notes: ConversionNotes) -> tuple[Any, int] | None:
        """The insert (or replace) of ``item`` and its BSON size; None when it was set aside."""
        from bson import encode
        from bson.raw_bson import RawBSONDocument

        if isinstance(item, RawBSONDocument):  # a MongoDB source's document: written as the bytes it was read as
            raw = item.raw
        else:
            try:
                raw = encode(to_document(item, self.key_names, self.spec.policy, notes))
            except ConversionError as exc:
                self._refuse(item, str(exc), put=True)
                return None
        if len(raw) > self.max_document_bytes:
            self._refuse(item, f"the document is {len(raw):,} bytes; MongoDB stores at most "
                         f"{self.max_document_bytes:,}", put=True)
            return None
        document = item if isinstance(item, RawBSONDocument) else RawBSONDocument(raw)
        return (self._pymongo.InsertOne(document) if self.insert_first else self._replace(document)), len(raw)

    def _replace(self, document: Any) -> Any:
        return self._pymongo.ReplaceOne({"_id": document["_id"]}, document, upsert=True)

    def _identity(self, keyed: Mapping[str, Any]) -> Any:
        if isinstance(keyed, raw_document_class()):
            return _id_bytes(keyed)
        return super()._identity(keyed)

    def _refuse(self, item: Mapping[str, Any], reason: str, put: bool) -> None:
        if isinstance(item, raw_document_class()):  # a MongoDB source's document: kept as extended JSON
            from ...sources.mongodb.items import show_id

            if self.dead_letter is None:
                raise TargetError(f"{self.spec.name} cannot take the document with _id {show_id(item['_id'])}: "
                                  f"{reason}. Set deadLetter.path (or savepoints.path) to set such documents aside "
                                  "and go on.", self.spec.name)
            self.dead_letter.write_document(self.spec.name, item, reason)
            self._count(dead_lettered=1)
            return
        key = item_key(item, [k for k in self.key_names if k in item])
        if self.dead_letter is None:
            raise TargetError(f"{self.spec.name} cannot take the item with key {key}: {reason}. Set "
                              "deadLetter.path (or savepoints.path) to set such items aside and go on.",
                              self.spec.name, key)
        self.dead_letter.write(self.spec.name, key, reason, item if put else None)
        self._count(dead_lettered=1)

    # -- sending ---------------------------------------------------------------------------------

    def _send(self, batch: list[tuple[Any, Mapping[str, Any], bool]]) -> None:
        notes = ConversionNotes()
        ready: list[tuple[Any, Mapping[str, Any], bool]] = []
        size = 0
        for op, item, put in batch:
            if op is None:
                converted = self._operation(item, notes)
                if converted is None:
                    continue
                op, nbytes = converted
                if ready and size + nbytes > self.spec.batch_bytes:
                    self._bulk(ready)
                    ready, size = [], 0
                size += nbytes
            ready.append((op, item, put))
        if ready:
            self._bulk(ready)
        with self._lock:
            self.notes.numbers_as_strings += notes.numbers_as_strings
            self.notes.numbers_as_doubles += notes.numbers_as_doubles

    def _bulk(self, batch: list[tuple[Any, Mapping[str, Any], bool]]) -> None:
        errors = self._pymongo.errors
        pending = batch
        transient = 0
        attempt = 0
        while pending:
            try:
                self._collection.bulk_write([op for op, _, _ in pending], ordered=False)
                done, retry = pending, []
            except errors.BulkWriteError as exc:
                failed = {e["index"]: e for e in exc.details.get("writeErrors", [])}
                # A duplicate key is an insert of a document that exists (replace it), or a race
                # of two upserts of a new _id (the retry finds it and replaces it).
                retry = [(self._replace(op._doc), item, put) if isinstance(op, self._pymongo.InsertOne)
                         else (op, item, put)
                         for op, item, put in (pending[i] for i, e in failed.items() if e.get("code") == DUPLICATE_KEY)]
                for i, error in failed.items():
                    if error.get("code") != DUPLICATE_KEY:
                        _, item, put = pending[i]
                        self._refuse(item, f"MongoDB refused it: {error.get('errmsg')} (code {error.get('code')})",
                                     put)
                done = [p for i, p in enumerate(pending) if i not in failed]
                if exc.details.get("writeConcernErrors"):
                    retry, done = pending, []  # not known to be durable: write them all again
            except (errors.AutoReconnect, errors.NetworkTimeout, errors.ConnectionFailure,
                    errors.ServerSelectionTimeoutError, errors.ExecutionTimeout, errors.WTimeoutError) as exc:
                transient += 1
                self._count(transient_errors=1)
                if transient > self.max_transient:
                    raise TargetError(f"writes to {self.spec.name} keep failing after {transient} attempts: {exc}",
                                      self.spec.name) from exc
                self.sleep(self.backoff.delay(attempt))
                attempt += 1
                continue
            self._count(batches=1, puts=sum(1 for _, _, put in done if put),
                        deletes=sum(1 for _, _, put in done if not put))
            if retry:
                self.sleep(self.backoff.delay(attempt))
                attempt += 1
            pending = retry
