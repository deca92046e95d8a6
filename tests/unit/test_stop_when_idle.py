"""``--stop-when-idle``: replication ends only once it provably caught up: a batch after the last change
read nothing with every shard caught up, or a trigger after the last batch found nothing new."""

from __future__ import annotations

import threading
import time

import pytest

from migrator.errors import MigratorError
from migrator.jobs.streaming import ApplyTask, BatchApplier, _wait


class FakeQuery:
    """A streaming query that is active until stopped, with a status the test sets."""

    def __init__(self):
        self.isActive = True
        # Spark is planning a trigger (the source reads its positions, lists shards...).
        self.status = {"message": "Getting offsets from dynamodb-streams", "isDataAvailable": True,
                       "isTriggerActive": True}
        self.lastProgress = None
        self.stopped = False
        self.error = None

    def awaitTermination(self, timeout):
        pass

    def exception(self):
        return self.error

    def stop(self):
        self.stopped = True
        self.isActive = False


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 0.5  # each poll of _wait advances half a second
        return self.now


def applier():
    a = BatchApplier(ApplyTask(target=None, renames={}, dead_letter_dir=None), "replicate t", "t")
    a.result.batches = 1
    a.batch_ended = time.monotonic()
    return a


def test_a_long_idle_time_is_not_enough_while_the_next_batch_is_being_planned():
    query, a = FakeQuery(), applier()
    result = {}

    def later():
        # Spark plans the next batch for a long time, then its status shows a trigger without data.
        time.sleep(0.3)
        result["stopped_before_idle_event"] = query.stopped
        query.status = {"message": "Waiting for data to arrive", "isDataAvailable": False, "isTriggerActive": False}

    helper = threading.Thread(target=later)
    helper.start()
    reason = _wait(query, a, threading.Event(), 5.0, Clock())
    helper.join()
    assert reason == "idle for 5 s" and query.stopped
    assert result["stopped_before_idle_event"] is False


def test_a_stop_signal_ends_it_at_once():
    query, a = FakeQuery(), applier()
    stop = threading.Event()
    stop.set()
    assert _wait(query, a, stop, None, Clock()) == "signal" and query.stopped


class Batch:
    """A micro-batch as foreachBatch sees it; its partitions' counts are given."""

    def __init__(self, parts):
        self.parts = parts
        self.sparkSession = self
        self.sparkContext = self
        self.rdd = self
        self._jsc = self

    def setJobGroup(self, *args, **kwargs):
        pass

    def setCallSite(self, *args):
        pass

    def mapPartitions(self, fn):
        return self

    def collect(self):
        if isinstance(self.parts, Exception):
            raise self.parts  # the read tasks failed
        return self.parts


class Stats:
    def __init__(self, behind):
        self.behind, self.shards, self.throttles = behind, 4, 0


def test_an_empty_batch_with_every_shard_caught_up_proves_replication_drained():
    stats = {}
    a = BatchApplier(ApplyTask(target=type("T", (), {"name": "t"})(), renames={}, dead_letter_dir=None),
                     "replicate t", "t", read_stats=stats.get)
    a(Batch([{"MODIFY": 3}]), 1)
    assert a.result.batches == 1 and not a.caught_up()
    stats[2] = Stats(behind=1)  # nothing read, but a shard was left unread for lack of time
    a(Batch([{}]), 2)
    assert not a.caught_up() and a.result.batches == 1  # an empty batch is not printed or counted
    stats[3] = Stats(behind=0)
    a(Batch([{}]), 3)
    assert a.caught_up()
    a(Batch([{"INSERT": 1}]), 4)
    assert not a.caught_up() and a.result.batches == 2


def test_a_query_still_initializing_is_not_idle():
    query = FakeQuery()
    query.status = {"message": "Initializing sources", "isDataAvailable": False, "isTriggerActive": False}
    a = BatchApplier(ApplyTask(target=None, renames={}, dead_letter_dir=None), "replicate t", "t")
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    assert _wait(query, a, stop, 1.0, Clock()) == "signal"  # the clock passed 1 s many times over


def test_a_failed_batch_never_proves_replication_caught_up():
    a = BatchApplier(ApplyTask(target=type("T", (), {"name": "t"})(), renames={}, dead_letter_dir=None),
                     "replicate t", "t")
    a(Batch([{}]), 1)
    assert a.caught_up()
    with pytest.raises(RuntimeError):
        a(Batch(RuntimeError("StreamTrimmedError: shard s1 no longer holds the records")), 2)
    a.idle_seen = time.monotonic() + 1  # Spark's status shows no data while the query is ending
    assert not a.caught_up()


def test_a_query_that_failed_while_stopping_for_idleness_reports_the_failure():
    query, a = FakeQuery(), applier()
    a.drained = True
    query.error = RuntimeError("StreamTrimmedError: shard s1 no longer holds the records after 42")
    with pytest.raises(MigratorError, match="shard s1 no longer holds"):
        _wait(query, a, threading.Event(), 1.0, Clock())
    assert query.stopped
