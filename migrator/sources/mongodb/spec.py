"""The executor half of a MongoDB source: a collection read by ``_id`` range, page by page, as raw BSON.

Documents stay the bytes the server sent (:class:`bson.raw_bson.RawBSONDocument`) from the read to the
target's write, so every BSON type and the order of fields arrive exactly as they left, and no document is
decoded on the way. A page is one ``find`` batch sorted by ``_id``; the position after it is the last
``_id`` (as canonical extended JSON), and the segment resumes after that ``_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from pydantic import SecretStr

from ...errors import ConversionError, SourceError
from ...mongo_access import pymongo_module, raw_document_class, shared_client
from ..base import Segment
from .items import UNCONVERTIBLE, unconvertible
from .ranges import bounds, compared, compared_ids, decode_id, encode_id, find_range, range_filter


@dataclass(frozen=True)
class MongoSourceSpec:
    """How executors reach and read the collection; picklable (the URI stays a ``SecretStr``).

    ``split_points`` are the ``_id`` values between segments, as extended JSON (empty: one segment).
    """

    uri: SecretStr
    database: str
    collection: str
    redacted_uri: str = ""
    batch_size: int = 1000
    max_await_ms: int = 500
    full_document: str = "updateLookup"
    split_points: tuple[str, ...] = ()
    #: Into a DynamoDB-compatible target: how documents become items (the validator reads them as items then).
    mapping: Any = None
    fetches_by_key = True

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.collection}"

    def describe(self) -> str:
        return f"{self.namespace} ({self.redacted_uri})"

    def client(self, raw: bool = True) -> Any:
        """A new client; documents come back as raw BSON unless ``raw`` is false."""
        pymongo = pymongo_module(SourceError, "source")
        options: dict[str, Any] = {"document_class": raw_document_class()} if raw else {}
        return pymongo.MongoClient(self.uri.get_secret_value(), appname="migrator", serverSelectionTimeoutMS=30_000,
                                   **options)

    def shared_client(self) -> Any:
        """One raw-BSON client per Python process and URI (see :func:`~migrator.mongo_access.shared_client`)."""
        return shared_client(("source", self.uri.get_secret_value()), self.client)

    def collection_of(self, client: Any) -> Any:
        return client[self.database][self.collection]

    def pages(self, segment: Segment, limit: int | None, limiter: Any, stats: Any) -> Iterator[tuple[list, Any, int]]:
        """The documents of ``segment`` after its savepoint position, a ``find`` batch at a time."""
        points = [decode_id(p) for p in self.split_points]
        low, high = bounds(points, segment.segment)
        inclusive = True
        if segment.start_key is not None:
            low, inclusive = decode_id(segment.start_key["after"]), False
        size = max(1, min(limit or self.batch_size, self.batch_size))
        collection = self.collection_of(self.shared_client())
        cursor = collection.find(range_filter(low, high, inclusive), sort=[("_id", 1)], batch_size=size)
        try:
            page: list[Any] = []
            for document in cursor:
                page.append(document)
                if len(page) >= size:
                    yield page, {"after": encode_id(page[-1]["_id"])}, len(page)
                    page = []
            yield page, None, len(page)
        finally:
            cursor.close()

    def read(self, partition: tuple[str | None, str | None]) -> Iterator[dict]:
        """The documents of one validation range, as the validator compares them: as items under a mapping, else in
        the :func:`.ranges.compared` form."""
        client = self.client(raw=self.mapping is not None)
        try:
            for document in find_range(self.collection_of(client), partition):
                yield self._compared(document)
        finally:
            client.close()

    def fetch(self, keys: list[dict]) -> list[dict]:
        """The documents of these keys, as :meth:`read` gives them; under a mapping, a document that cannot be an
        item is left out (``copyMissingRows`` writes what this returns)."""
        client = self.client(raw=self.mapping is not None)
        try:
            if self.mapping is None:
                return [compared(d) for d in self.collection_of(client).find({"_id": {"$in": compared_ids(keys)}})]
            found = (self._compared(d) for d in self.collection_of(client).find(self.mapping.id_filter(keys)))
            return [item for item in found if UNCONVERTIBLE not in item]
        finally:
            client.close()

    def _compared(self, document: Any) -> dict:
        if self.mapping is None:
            return compared(document)
        try:
            return self.mapping.item(document)
        except ConversionError as exc:
            return unconvertible(self.mapping, document, str(exc))
