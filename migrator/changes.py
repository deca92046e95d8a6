"""Stream changes: which change of a key wins within a micro-batch, and what applying it means.

A micro-batch may hold several changes of one key; only the last one in stream order matters, and
applying it twice leaves the target as applying it once (a put of the whole new image, or a delete
by key). That is what makes at-least-once delivery exactly-once in effect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from .convert import key_tuple, rename_item
from .lag import LagHistogram
from .wire_json import CODEC

EVENTS = ("INSERT", "MODIFY", "REMOVE")


@dataclass(frozen=True)
class Change:
    """The last change of one key in a batch, ready to apply."""

    event: str
    sequence: Any  # what :func:`last_changes` ranks by: the sequence number, or (batch, sequence number)
    keys: dict
    image: dict | None

    @property
    def is_delete(self) -> bool:
        return self.event == "REMOVE" or self.image is None


@dataclass
class BatchCounts:
    """Changes received per event type, and what was applied."""

    INSERT: int = 0
    MODIFY: int = 0
    REMOVE: int = 0
    puts: int = 0
    deletes: int = 0
    #: Last changes whose new image does not match source.filterExpression: deleted from the target.
    filtered: int = 0
    dead_lettered: int = 0
    throttles: int = 0
    unprocessed: int = 0
    newest: float | None = None
    #: Whether any creation time had seconds: DynamoDB Local truncates them to the minute, which
    #: makes a lag computed from them meaningless.
    fine_times: bool = False
    #: Every record's lag, creation to written (:meth:`LagHistogram.as_dict`); empty without fine times.
    lag_buckets: dict[str, int] = field(default_factory=dict)

    def add(self, other: "BatchCounts") -> None:
        for name in ("INSERT", "MODIFY", "REMOVE", "puts", "deletes", "filtered", "dead_lettered", "throttles",
                     "unprocessed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.fine_times = self.fine_times or other.fine_times
        if other.newest is not None:
            self.newest = other.newest if self.newest is None else max(self.newest, other.newest)
        if other.lag_buckets:
            merged = self.lags
            merged.merge(other.lags)
            self.lag_buckets = merged.as_dict()

    @property
    def records(self) -> int:
        return self.INSERT + self.MODIFY + self.REMOVE

    @property
    def lags(self) -> LagHistogram:
        return LagHistogram.from_dict(self.lag_buckets)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BatchCounts":
        return cls(**data)

    @classmethod
    def total(cls, parts: Iterable[Mapping[str, Any]]) -> "BatchCounts":
        """The sum of what the partitions of a job returned (:meth:`as_dict` each)."""
        counts = cls()
        for part in parts:
            counts.add(cls.from_dict(part))
        return counts


def stream_order(row: Any) -> int:
    """A record's place in a micro-batch: its sequence number (per key, a later change has a higher one)."""
    return int(row.sequence_number)


def log_order(row: Any) -> tuple[int, int]:
    """A record's place in the change log: its capture batch, then its sequence number."""
    return (row.batch, int(row.sequence_number))


class WireJson:
    """The keys and images of ``dynamodb-streams`` rows: wire-form DynamoDB JSON text; keys compare by value
    (numbers as decimals). A source whose rows hold something else (raw BSON) has its own, with these methods."""

    @staticmethod
    def keys(value: Any) -> dict:
        return CODEC.loads(value)  # kept in wire form: every writer and check takes it (convert.blob)

    @staticmethod
    def identity(keys: dict) -> tuple:
        return key_tuple(keys)

    image = keys


WIRE_JSON = WireJson()


def last_changes(rows: Iterable[Any], renames: Mapping[str, str], order: Callable[[Any], Any] = stream_order,
                 keep: Callable[[dict], bool] | None = None,
                 codec: Any = WIRE_JSON) -> tuple[list[Change], BatchCounts, list[float]]:
    """Keep, per key, the change that comes last by ``order``; count what came in.

    ``rows`` carry the columns of the ``dynamodb-streams`` source (``event_name``, ``keys``,
    ``new_image``, ``sequence_number``, ``approximate_creation_time``), their keys and images read by
    ``codec`` (:class:`WireJson` by default), and renames are applied to keys and images. The third value
    holds every row's creation time (epoch seconds), for the lag once the changes are written.

    ``keep`` (a partial copy's filter) tests each key's last new image, before renames: an image it
    refuses becomes a delete of the key (the item may have matched before; a delete of a key the
    target lacks changes nothing), counted in ``filtered``.
    """
    counts = BatchCounts()
    created_at: list[float] = []
    latest: dict[tuple, Change] = {}
    for row in rows:
        event = row.event_name
        if event in EVENTS:
            setattr(counts, event, getattr(counts, event) + 1)
        created = row.approximate_creation_time
        if isinstance(created, datetime):
            counts.fine_times = counts.fine_times or bool(created.second or created.microsecond)
            stamp = created.timestamp()
            created_at.append(stamp)
            counts.newest = stamp if counts.newest is None else max(counts.newest, stamp)
        keys = codec.keys(row.keys)
        identity = codec.identity(keys)
        number = order(row)
        current = latest.get(identity)
        if current is not None and current.sequence >= number:
            continue
        latest[identity] = Change(event, number, keys, row.new_image if event != "REMOVE" else None)
    changes = []
    for change in latest.values():
        image = codec.image(change.image) if change.image else None
        if image is not None and keep is not None and not keep(image):
            counts.filtered += 1
            image = None
        changes.append(Change(change.event, change.sequence, rename_item(change.keys, renames),
                              rename_item(image, renames) if image is not None else None))
    return changes, counts, created_at


def record_lags(counts: BatchCounts, created_at: Iterable[float], written_at: float) -> None:
    """Count each record's lag, creation to ``written_at``, when the record times have seconds."""
    if counts.fine_times:
        lags = LagHistogram()
        lags.add_all(written_at - stamp for stamp in created_at)
        counts.lag_buckets = lags.as_dict()


def batch_line(batch_id: int, counts: BatchCounts, lag: float | None) -> str:
    """``batch 12: | INSERT | 40 | MODIFY | 5 | REMOVE | 2 |  lag 1.3 s (p50 0.8 s, p99 1.2 s)``
    (Scylla Migrator's layout, then the lag of the newest record and of every record)."""
    line = f"batch {batch_id}: | INSERT | {counts.INSERT} | MODIFY | {counts.MODIFY} | REMOVE | {counts.REMOVE} |"
    if lag is not None and counts.fine_times:
        line += f"  lag {lag:.1f} s"
        lags = counts.lags
        if lags.total:
            line += f" (p50 {lags.quantile(0.5):.1f} s, p99 {lags.quantile(0.99):.1f} s)"
    elif lag is not None:
        line += "  lag n/a (record times are whole minutes)"
    if counts.filtered:
        line += f"  not matching the filter: {counts.filtered} (deleted)"
    if counts.dead_lettered:
        line += f"  dead-lettered {counts.dead_lettered}"
    return line
