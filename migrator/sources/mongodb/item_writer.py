"""Writing a MongoDB source's documents into a DynamoDB-compatible target: the target's own writer, fed items.

The snapshot and replication hand a writer raw documents (puts) and ``{_id}`` keys (deletes); :class:`ItemTarget`
wraps the target's spec so that its writer maps them (:mod:`.items`) before the target's batching, retries and
dead letters take over. A document that cannot be an item goes to the dead letter as extended JSON, counted with
the target's own refusals.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ...errors import ConversionError, TargetError
from .items import ItemMapping, show_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ItemTarget:
    """A DynamoDB-JSON target spec (``inner``) that takes documents; picklable."""

    inner: Any
    mapping: ItemMapping

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def fetches_by_key(self) -> bool:
        return self.inner.fetches_by_key

    def describe(self) -> str:
        return self.inner.describe()

    def writer(self, dead_letter: Any, dedupe: bool = False, limiter: Any = None, snapshot: bool = False,
               partition: int = 0) -> "ItemWriter":
        inner = self.inner.writer(dead_letter=dead_letter, dedupe=dedupe, limiter=limiter, snapshot=snapshot,
                                  partition=partition)
        return ItemWriter(inner, self.mapping, dead_letter, self.inner.name)

    def stored(self, item: dict) -> dict:
        return self.inner.stored(item)

    def read(self, partition: Any) -> Iterator[dict]:
        return self.inner.read(partition)

    def fetch(self, keys: list[dict]) -> list[dict]:
        return self.inner.fetch(keys)


class ItemWriter:
    """Maps documents to items and ``_id`` keys to item keys on the way into ``inner`` (a target writer)."""

    def __init__(self, inner: Any, mapping: ItemMapping, dead_letter: Any, name: str):
        self.inner = inner
        self.mapping = mapping
        self.dead_letter = dead_letter
        self.name = name
        self.refused = 0

    def put(self, document: Mapping[str, Any]) -> None:
        try:
            item = self.mapping.item(document)
        except ConversionError as exc:
            self._refuse(document, str(exc))
            return
        self.inner.put(item)

    def delete(self, keys: Mapping[str, Any]) -> None:
        try:
            key = self.mapping.key_of(keys["_id"])
        except ConversionError:
            return  # no item can have been written under this _id: nothing to delete
        self.inner.delete(key)

    def _refuse(self, document: Mapping[str, Any], reason: str) -> None:
        shown = show_id(document.get("_id"))
        if self.dead_letter is None:
            raise TargetError(f"the document with _id {shown} cannot be an item of {self.name!r}: {reason}. Fix "
                              "the document, change source.key or source.types, or set deadLetter.path (or "
                              "savepoints.path) to set such documents aside and go on.", self.name)
        self.dead_letter.write_document(self.name, document, reason)
        self.refused += 1
        log.warning("dead-lettered the document with _id %s: %s", shown, reason)

    @property
    def stats(self) -> Any:
        stats = self.inner.stats
        return dataclasses.replace(stats, dead_lettered=stats.dead_lettered + self.refused)

    def mark(self, token: Any) -> None:
        self.inner.mark(token)

    def committed(self) -> Any:
        return self.inner.committed()

    def flush(self) -> None:
        self.inner.flush()

    def close(self) -> None:
        self.inner.close()
