"""``--stop-when-idle``: replication ends only after a trigger found nothing new after the last batch."""

from __future__ import annotations

import threading
import time

from migrator.jobs.streaming import ApplyTask, BatchApplier, _wait


class FakeQuery:
    """A streaming query that is active until stopped, with a status the test sets."""

    def __init__(self):
        self.isActive = True
        self.status = {"isDataAvailable": False}
        self.lastProgress = None
        self.stopped = False

    def awaitTermination(self, timeout):
        pass

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
        # Spark plans the next batch for a long time (no idle event yet), then reports an idle trigger.
        time.sleep(0.3)
        result["stopped_before_idle_event"] = query.stopped
        a.idle_seen = time.monotonic()

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
