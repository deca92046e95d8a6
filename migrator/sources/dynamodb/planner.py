"""Driver side of the ``dynamodb-streams`` source: the next micro-batch's offset, without reading records.

Where a batch should end can only be learnt by reading the stream, and reading on the driver makes
it carry every record's bytes (no number of executors lifts that ceiling). So the driver never
reads: a batch's offset holds only where each shard's reading *starts* and how many records the
batch may take; executors read from there and record where they stopped (:mod:`.positions`); the
next offset is made from those records. This is the design of qubole/kinesis-sql's metadata
committer. It has one cost: the stream is polled by a batch every trigger, also when nothing is
new (each open shard gets one GetRecords a trigger, as a KCL worker polls it).

Per batch the planner reads the previous batch's positions files (one per task), asks
DescribeStream for shards newer than the newest it knows when new shards are to be expected
(:mod:`.shards`), and adds the shards whose parents are finished. DescribeStream calls are paced
(``describe_per_second``) and throttled calls retried without limit. A batch that finished no shard
makes no call (most batches: the call was most of the planner's CPU).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ...clients import error_code, error_kind
from ...errors import StreamTrimmedError
from ...throttle import Backoff, RateLimiter, call_with_retries
from .offsets import StreamOffset, advance
from .positions import PositionsLog, outcomes
from .shards import NEW_SNAPSHOT, OrphanShard, ShardDirectory, SweepResult, lost_error, lost_shards, readable

log = logging.getLogger(__name__)


class StreamPlanner:
    """Plans the offsets of one stream; lives in the driver-side process for the query's life.

    Parameters
    ----------
    client_factory : callable
        Builds the DynamoDB Streams client (on first use, in the process that plans).
    parts : int
        Tasks a batch is split into.
    sweep_seconds, describe_per_second : float
        How often the whole shard listing is checked again, and the pace of DescribeStream calls.
    discover_seconds : float
        How often new shards are looked for when no shard finished meanwhile.
    """

    #: How long the children of a shard that was read to its end are looked for every batch.
    CHILDREN_WAIT = 60.0

    def __init__(self, client_factory: Callable[[], Any], stream_arn: str, log_: PositionsLog, parts: int,
                 sweep_seconds: float = 300.0, describe_per_second: float = 5.0, discover_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.client_factory = client_factory
        self.stream_arn = stream_arn
        self.log = log_
        self.parts = parts
        self.clock, self.sleep = clock, sleep
        self._client: Any = None
        self._pace = RateLimiter(describe_per_second, clock(), burst_seconds=1.0)
        self.directory = ShardDirectory(self._describe, stream_arn, sweep_seconds, clock=clock)
        self.discover_seconds = discover_seconds
        self._listed = False
        self._discovered = -float("inf")
        #: Shards read to their end whose children are not listed yet, with when that was seen.
        self._awaiting_children: dict[str, float] = {}

    def _describe(self, **kwargs: Any) -> dict:
        if self._client is None:
            self._client = self.client_factory()
        wait = self._pace.delay(self.clock())
        if wait > 0:
            self.sleep(wait)
        self._pace.charge(1, self.clock())
        try:
            return call_with_retries(lambda: self._client.describe_stream(**kwargs), error_kind, Backoff(),
                                     self.sleep)["StreamDescription"]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise StreamTrimmedError(
                    f"stream {self.stream_arn} no longer exists (disabled, or the table was dropped): changes made "
                    f"since the last batch are lost to this migration; enable a stream and {NEW_SNAPSHOT}") from exc
            raise

    def next_offset(self, start: dict, max_records: int | None, available_now: bool = False) -> dict:
        """The offset of the batch after ``start`` (``start`` itself when there is nothing to read)."""
        offset = StreamOffset.from_dict(start, self.parts)
        shards, done, caught_up, read = dict(offset.shards), set(offset.done), True, {}
        if offset.batch >= 0 and offset.shards:
            read = outcomes(self.log.read_batch(offset.batch))
            shards, done, caught_up = advance(offset, read)
        sweep = self._check(self.directory.refresh(self._expect_new_shards(done - set(offset.done))), shards)
        first_listing = offset.batch < 0
        try:
            new = readable(self.directory.shards, shards, done, first_listing)
        except OrphanShard:
            # The incremental listing may have missed a parent: look at every shard once more.
            sweep = self._check(self.directory.full_listing(), shards)
            try:
                new = readable(self.directory.shards, shards, done, first_listing)
            except OrphanShard as orphan:
                raise StreamTrimmedError(
                    f"shard {orphan.shard_id} of {self.stream_arn} descends from {orphan.parent_id}, which the "
                    "stream no longer lists and this migration never finished reading: its changes expired "
                    f"unread and are lost; {NEW_SNAPSHOT}") from None
        if sweep is not None:
            done.intersection_update(sweep.listed)  # nothing new can descend from a shard no longer listed
        # A shard still at its start keeps what its reader must prove; an orphan read to its end
        # without a record has shown its parent ended before the pin (or holds nothing since), so from
        # then on it is a root. A new shard gets its start from the listing.
        starts = {}
        for sid, position in shards.items():
            if not position and sid in offset.starts:
                first, kind = offset.starts[sid]
                was_read = sid in read and not read[sid].behind
                starts[sid] = (first, "root" if kind == "orphan" and was_read else kind)
        for sid in new:
            shards[sid] = ""
            listed = self.directory.shards[sid]
            kind = "child" if not first_listing else "root" if listed.parent_id is None else "orphan"
            starts[sid] = (listed.starting_seq, kind)
        if not shards or (available_now and caught_up and not new and offset.batch >= 0):
            return start
        if new:
            log.info("stream %s: %d new shard(s) to read (%d in all)", self.stream_arn, len(new), len(shards))
        return StreamOffset(self.stream_arn, offset.batch + 1, self.parts, max_records, shards, done,
                            starts).to_dict()

    def _expect_new_shards(self, finished: set[str]) -> bool:
        """Whether to ask for new shards now: a shard finished and its children are not listed yet
        (looked for every batch for ``CHILDREN_WAIT`` s), or ``discover_seconds`` have passed."""
        now = self.clock()
        for sid in finished:
            self._awaiting_children.setdefault(sid, now)
        parents = {shard.parent_id for shard in self.directory.shards.values()}
        self._awaiting_children = {sid: since for sid, since in self._awaiting_children.items()
                                  if sid not in parents and now - since < self.CHILDREN_WAIT}
        if self._awaiting_children or now - self._discovered >= self.discover_seconds:
            self._discovered = now
            return True
        return False

    def _check(self, sweep: SweepResult | None, shards: dict[str, str]) -> SweepResult | None:
        """After a complete listing, started shards it no longer shows are lost."""
        if sweep is None:
            return None
        if not self._listed:  # the first listing of this process: every started shard must be there
            sweep = SweepResult(sweep.listed, set(shards))
            self._listed = True
        lost = lost_shards(sweep, shards)
        if lost:
            raise lost_error(self.stream_arn, lost, "expired before they were read to their end")
        return sweep

    def purge(self, committed: StreamOffset) -> None:
        """Positions files older than the committed batch's predecessor are no longer needed."""
        if committed.batch >= 2 and committed.batch % 10 == 0:
            self.log.purge(committed.batch - 1)
