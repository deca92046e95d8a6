"""Where each micro-batch's readers stopped, per shard: written by executors, read by the planner.

The driver never reads stream records, so it cannot know where a batch ends before the batch has
run. Each read task therefore records, once it has read its shards, where it stopped in each
(``<path>/<batch>/<partition>.json``); the planner builds the next batch's start positions from
those files, and a replayed batch finds its own file and reads exactly up to the recorded ends.

A file is created exclusively (:func:`migrator.storage.create_exclusive`): if two attempts of one
task race (a task retried while a lost executor's attempt still runs), the first file stands and
the later attempt reads on up to the ends it records, so no attempt leaves a gap behind the
positions the next batch starts from. Files of batches older than the last committed one are
removed by the planner (:meth:`PositionsLog.purge`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from ... import storage


@dataclass
class ShardOutcome:
    """Where a task stopped reading one shard.

    Attributes
    ----------
    last : str or None
        Sequence number of the last record read, or None when none was (the position is unchanged).
    done : bool
        The shard is closed and was read to its end.
    behind : bool
        Reading stopped for the batch's record budget or time, not because the shard was caught up.
    records : int
        Records read from the shard in this batch.
    called : float
        Epoch seconds of the last GetRecords call, so that the next batch keeps the per-shard pace.
    iterator, iterator_at : str or None
        The shard iterator to continue with and the position it stands at (``""`` for the
        shard's start, else a sequence number): the next batch saves a GetShardIterator call.
    """

    last: str | None = None
    done: bool = False
    behind: bool = False
    records: int = 0
    called: float = 0.0
    iterator: str | None = None
    iterator_at: str | None = None


@dataclass
class ReadStats:
    """What the read tasks of one batch did, summed."""

    shards: int = 0
    records: int = 0
    behind: int = 0
    calls: int = 0
    throttles: int = 0
    transient_errors: int = 0
    seconds: float = 0.0

    def add(self, other: "ReadStats") -> None:
        for name in ("shards", "records", "behind", "calls", "throttles", "transient_errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds = max(self.seconds, other.seconds)


@dataclass
class PartitionRecord:
    """The content of one positions file."""

    stream: str
    batch: int
    partition: int
    shards: dict[str, ShardOutcome] = field(default_factory=dict)
    stats: ReadStats = field(default_factory=ReadStats)

    def to_json(self) -> str:
        return json.dumps({"stream": self.stream, "batch": self.batch, "partition": self.partition,
                           "shards": {sid: asdict(o) for sid, o in sorted(self.shards.items())},
                           "stats": asdict(self.stats)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PartitionRecord":
        data = json.loads(text)
        return cls(data["stream"], int(data["batch"]), int(data["partition"]),
                   {sid: ShardOutcome(**o) for sid, o in data["shards"].items()}, ReadStats(**data["stats"]))


class PositionsLog:
    """The positions files of one query, under ``path`` (a local or shared directory, or S3).

    A plain picklable value: executors and the planner each open the same files by name.
    """

    def __init__(self, path: str):
        self.path = path.rstrip("/")

    def __repr__(self) -> str:
        return f"PositionsLog({self.path!r})"

    def _file(self, batch: int, partition: int) -> str:
        return storage.join(self.path, str(batch), f"{partition}.json")

    def read(self, batch: int, partition: int) -> PartitionRecord | None:
        """The file of one partition of ``batch``; None when that task never finished reading."""
        try:
            return PartitionRecord.from_json(storage.read_text(self._file(batch, partition)))
        except FileNotFoundError:
            return None

    def create(self, record: PartitionRecord) -> PartitionRecord | None:
        """Write ``record`` unless its file exists; returns the existing record when it does."""
        if storage.create_exclusive(self._file(record.batch, record.partition), record.to_json()):
            return None
        existing = self.read(record.batch, record.partition)
        if existing is None:  # vanished between the two calls: only a purge does that, and it never
            raise OSError(f"positions file of batch {record.batch} partition {record.partition} under "
                          f"{self.path} exists but cannot be read")
        return existing

    def read_batch(self, batch: int) -> list[PartitionRecord]:
        """Every partition file of ``batch`` (the tasks that did not finish have none)."""
        return [PartitionRecord.from_json(storage.read_text(name))
                for name in storage.list_names(storage.join(self.path, str(batch)), ".json")]

    def purge(self, before: int) -> None:
        """Remove the files of batches numbered below ``before``."""
        for name in storage.list_dirs(self.path):
            if name.isdigit() and int(name) < before:
                storage.remove_tree(storage.join(self.path, name))


def outcomes(records: list[PartitionRecord]) -> dict[str, ShardOutcome]:
    """Shard id → outcome over the partition files of one batch."""
    merged: dict[str, ShardOutcome] = {}
    for record in records:
        merged.update(record.shards)
    return merged


def batch_stats(records: list[PartitionRecord]) -> ReadStats:
    total = ReadStats()
    for record in records:
        total.add(record.stats)
    return total


def positions_path(checkpoint: str) -> str:
    """Where a query with Spark checkpoint ``checkpoint`` keeps its positions files: inside it, so that
    moving the checkpoint away moves them too. Executors write them with :mod:`migrator.storage`,
    which reaches local and shared paths and S3; other file systems have no Python client here."""
    if not storage.reachable_from_python(checkpoint):
        raise ValueError(f"checkpoint {checkpoint}: the dynamodb-streams source keeps its shard positions beside "
                         "the checkpoint and writes them from Python executors, which reach local or shared paths "
                         "and s3:// only; use one of those")
    parts = urlsplit(checkpoint)
    return storage.join(parts.path if parts.scheme == "file" else checkpoint, "positions")


def read_stats(path: str, batch: int) -> ReadStats | None:
    """What the read tasks of ``batch`` did (None when no task recorded anything)."""
    records = PositionsLog(path).read_batch(batch)
    return batch_stats(records) if records else None
