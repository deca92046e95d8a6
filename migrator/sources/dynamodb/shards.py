"""Which shards a stream has, found with few DescribeStream calls, and which of them a batch may read.

A busy table's stream lists thousands of shards over a day (100 per DescribeStream page, about 10
calls a second allowed), so the planner never lists the whole stream per batch:

- the first listing of a query is complete (every page);
- then the planner asks only for shards newer than the newest one known (``ExclusiveStartShardId``;
  DynamoDB lists shards in creation order), one call when nothing is new, and only when new shards
  are to be expected: in the batches after a shard was read to its end, until its children are
  listed (a shard's successors appear when it closes: splits, and the rollover every few hours),
  and every ``discover_seconds`` besides;
- and a *sweep* lists the whole stream again every ``sweep_seconds``, a few pages per batch, to catch
  a shard the incremental calls missed, to notice shards that expired (a started shard that
  expired unread means lost changes), and to forget finished shards the stream no longer lists.

Lineage rules (:func:`readable`): a shard is read once its parent is finished (in an earlier batch,
so that one key's changes never sit in two partitions of one batch) or, in the query's first
listing, when its parent is not listed (it expired before the query started). A shard discovered
later whose parent is neither known nor listed, even after a complete listing, means a parent
expired before it was read: that stops the query (:class:`~migrator.errors.StreamTrimmedError`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ...errors import StreamTrimmedError

NEW_SNAPSHOT = "run a new snapshot (move the savepoint and checkpoint away)"


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    starting_seq: str
    ending_seq: str | None

    @property
    def closed(self) -> bool:
        return self.ending_seq is not None


def parse_shard(entry: dict) -> Shard:
    numbers = entry.get("SequenceNumberRange", {})
    return Shard(entry["ShardId"], entry.get("ParentShardId"), numbers.get("StartingSequenceNumber", "0"),
                 numbers.get("EndingSequenceNumber"))


@dataclass
class SweepResult:
    """A complete listing: ``listed`` every shard id seen, ``known_before`` the ids known when it began."""

    listed: set[str]
    known_before: set[str]


class ShardDirectory:
    """The planner's view of one stream's shards, kept current incrementally.

    Parameters
    ----------
    describe : callable
        ``describe(**kwargs)`` → DescribeStream's ``StreamDescription``; the caller adds the rate
        limit, retries and error meaning.
    sweep_seconds : float
        How often a complete listing runs again.
    pages_per_refresh : int
        DescribeStream pages a sweep may use per :meth:`refresh` (besides the incremental call).
    """

    def __init__(self, describe: Callable[..., dict], stream_arn: str, sweep_seconds: float = 300.0,
                 pages_per_refresh: int = 2, clock: Callable[[], float] = time.monotonic):
        self.describe = describe
        self.stream_arn = stream_arn
        self.sweep_seconds = sweep_seconds
        self.pages_per_refresh = pages_per_refresh
        self.clock = clock
        self.shards: dict[str, Shard] = {}
        self.newest: str | None = None
        self.calls = 0
        self._last_sweep = -float("inf")
        self._sweep_cursor: str | None = None
        self._sweep_seen: set[str] | None = None
        self._sweep_known: set[str] = set()

    def _page(self, after: str | None) -> tuple[list[Shard], str | None]:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        if after:
            kwargs["ExclusiveStartShardId"] = after
        self.calls += 1
        description = self.describe(**kwargs)
        return [parse_shard(s) for s in description.get("Shards", [])], description.get("LastEvaluatedShardId")

    def _learn(self, shards: Iterable[Shard]) -> None:
        for shard in shards:
            self.shards[shard.shard_id] = shard
            if self.newest is None or shard.shard_id > self.newest:
                self.newest = shard.shard_id

    def full_listing(self) -> SweepResult:
        """List every page now; forget shards that are no longer listed."""
        known = set(self.shards)
        listed: set[str] = set()
        after = None
        while True:
            page, after = self._page(after)
            self._learn(page)
            listed.update(s.shard_id for s in page)
            if not after:
                break
        self._finish_sweep(listed)
        return SweepResult(listed, known)

    def refresh(self, incremental: bool = True) -> SweepResult | None:
        """New shards since the last call (``incremental``), and the sweep's next pages when one is
        due; returns a sweep's result when one completed now."""
        if not self.shards and self.newest is None:
            return self.full_listing()
        after = self.newest
        while incremental:
            page, after = self._page(after)
            self._learn(page)
            if not after:
                break
        if self._sweep_seen is None and self.clock() - self._last_sweep >= self.sweep_seconds:
            self._sweep_seen, self._sweep_cursor, self._sweep_known = set(), None, set(self.shards)
        if self._sweep_seen is None:
            return None
        for _ in range(self.pages_per_refresh):
            page, self._sweep_cursor = self._page(self._sweep_cursor)
            self._learn(page)
            self._sweep_seen.update(s.shard_id for s in page)
            if not self._sweep_cursor:
                result = SweepResult(self._sweep_seen, self._sweep_known)
                self._finish_sweep(result.listed | (set(self.shards) - self._sweep_known))
                return result
        return None

    def _finish_sweep(self, keep: set[str]) -> None:
        for sid in set(self.shards) - keep:
            del self.shards[sid]
        self._sweep_seen, self._sweep_cursor = None, None
        self._last_sweep = self.clock()


def readable(shards: dict[str, Shard], positions: dict[str, str], done: set[str], first_listing: bool) -> list[str]:
    """Listed shards not started yet that a batch may start now, oldest first.

    Raises
    ------
    OrphanShard
        For a shard discovered after the first listing whose parent is neither known nor listed.
    """
    out = []
    for sid in sorted(shards):
        if sid in positions or sid in done:
            continue
        parent = shards[sid].parent_id
        if parent is None or parent in done:
            out.append(sid)
        elif parent in positions or parent in shards:
            continue  # the parent is being read, or will be: this one waits for it to finish
        elif first_listing:
            out.append(sid)  # the parent expired before this query began
        else:
            raise OrphanShard(sid, parent)
    return out


class OrphanShard(Exception):
    """A shard whose parent is neither known nor listed; the planner lists everything once more
    before it calls that a loss."""

    def __init__(self, shard_id: str, parent_id: str):
        self.shard_id, self.parent_id = shard_id, parent_id
        super().__init__(f"shard {shard_id}: parent {parent_id} is neither known nor listed")


def lost_shards(sweep: SweepResult, positions: dict[str, str]) -> list[str]:
    """Started, unfinished shards a complete listing no longer shows: their unread changes expired."""
    return sorted(sid for sid in positions if sid in sweep.known_before and sid not in sweep.listed)


def lost_error(stream_arn: str, shard_ids: list[str], why: str) -> StreamTrimmedError:
    return StreamTrimmedError(
        f"shards {', '.join(shard_ids)} of {stream_arn} {why}: the stream's 24-hour retention trimmed changes "
        f"this migration had not applied, so they are lost; {NEW_SNAPSHOT}")
