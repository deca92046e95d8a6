"""Offsets of the ``dynamodb-streams`` source: where each shard's reading of a micro-batch starts.

An offset names the stream, the batch it starts, and per shard the sequence number of the last
record consumed before it (``""``: from the shard's oldest record)::

    {"stream": "<ARN>", "batch": 7, "parts": 2, "max": 10000,
     "shards": {"shardId-1": "000000000000000000042", "shardId-2": ""},
     "done": ["shardId-0"], "starts": {"shardId-2": ["000000000000000000050", "child"]}}

The records of batch 7 are the ones its tasks read from these positions on; where they stopped is
in the positions log (:mod:`.positions`), from which the planner makes batch 8's offset. ``done``
lists finished shards the stream still lists (their children need to know). ``parts`` and ``max``
fix how the batch is split into tasks and how many records it may read, so a replayed batch is
planned exactly as it first was. ``starts`` gives each shard still to be read from its oldest
record the shard's first sequence number and how it came to be read (:data:`START_KINDS`), so that
its reader can prove that nothing was trimmed from it unread (:mod:`.shard_reader`); offsets without
it (written before) read such shards from their oldest remaining record. Keys are sorted: Spark
compares offsets through their JSON.

Offsets written by migrator before this layout (``{"shards": {id: {"seq": ..., "done": ...}}}``,
each the *end* of a batch the driver had probed) are still read: as the positions to continue
from, and as exact ranges when Spark replays such a batch after an upgrade.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from .positions import ShardOutcome

#: How a shard read from its start came to be read. ``child``: its parent was read to its end (or it
#: has none) after the query began, so every record it ever held must still be there. ``root``: in
#: the query's first listing, without a parent; ``orphan``: in the first listing, its parent no longer
#: listed (expired). A root or orphan may have lost records from before the stream was pinned, never
#: after it.
START_KINDS = ("child", "root", "orphan")


@dataclass
class StreamOffset:
    stream: str
    batch: int = -1
    parts: int = 1
    max_records: int | None = None
    shards: dict[str, str] = field(default_factory=dict)
    done: set[str] = field(default_factory=set)
    #: Shard → (its first sequence number, one of START_KINDS), for shards at position "".
    starts: dict[str, tuple[str, str]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"stream": self.stream, "batch": self.batch, "parts": self.parts,
               "max": -1 if self.max_records is None else self.max_records,
               "shards": dict(sorted(self.shards.items())), "done": sorted(self.done)}
        if self.starts:
            out["starts"] = {sid: list(start) for sid, start in sorted(self.starts.items())}
        return out

    @classmethod
    def from_dict(cls, data: dict, parts: int = 1) -> "StreamOffset":
        if is_legacy(data):
            shards = {sid: p.get("seq") or "" for sid, p in data.get("shards", {}).items() if not p.get("done")}
            done = {sid for sid, p in data.get("shards", {}).items() if p.get("done")}
            return cls(data["stream"], -1, parts, None, shards, done)
        limit = int(data.get("max", -1))
        return cls(data["stream"], int(data["batch"]), int(data["parts"]), None if limit < 0 else limit,
                   dict(data.get("shards", {})), set(data.get("done", [])),
                   {sid: (start[0], start[1]) for sid, start in data.get("starts", {}).items()})


def is_legacy(data: dict) -> bool:
    return "batch" not in data


def legacy_ranges(start: dict, end: dict) -> dict[str, tuple[str, str]]:
    """Shard → (after, last) of a batch planned by the earlier layout: exactly what it held."""
    before = start.get("shards", {})
    ranges = {}
    for sid, position in end.get("shards", {}).items():
        after = (before.get(sid) or {}).get("seq") or ""
        last = position.get("seq")
        if last is not None and int(last) > (int(after) if after else -1):
            ranges[sid] = (after, last)
    return ranges


def group_of(shard_id: str, parts: int) -> int:
    """The task (of ``parts``) that reads a shard: stable across batches, so that a task finds the
    iterators its predecessor left for the same shards."""
    return zlib.crc32(shard_id.encode("utf-8")) % parts


def advance(offset: StreamOffset, outcomes: dict[str, ShardOutcome]) -> tuple[dict[str, str], set[str], bool]:
    """Positions after the batch ``offset`` started, given where its tasks stopped.

    Returns
    -------
    (shards, done, caught_up)
        ``caught_up``: every shard read in the batch reached the end of what the stream held.
        A shard without an outcome (its task's file is missing: a sink that read only some
        partitions) keeps its position and counts as not caught up.
    """
    shards = dict(offset.shards)
    done = set(offset.done)
    caught_up = True
    for sid in offset.shards:
        outcome = outcomes.get(sid)
        if outcome is None:
            caught_up = False
            continue
        if outcome.done:
            del shards[sid]
            done.add(sid)
            continue
        if outcome.last is not None:
            shards[sid] = outcome.last
        caught_up = caught_up and not outcome.behind
    return shards, done, caught_up


def budgets(shard_ids: list[str], parts: int, max_records: int | None) -> dict[int, int | None]:
    """Records each task may read: the batch's limit shared in proportion to the shards it reads."""
    sizes: dict[int, int] = {}
    for sid in shard_ids:
        index = group_of(sid, parts)
        sizes[index] = sizes.get(index, 0) + 1
    if max_records is None:
        return {index: None for index in sizes}
    total = len(shard_ids)
    return {index: max(1, max_records * n // total) for index, n in sizes.items()}
