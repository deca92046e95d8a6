"""The change log's pure parts: how batches are grouped, which change of a key wins across batches,
where the log goes, when the stream is captured, and the apply's handover to replication."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from migrator.changes import last_changes, log_order
from migrator.config import parse_config
from migrator.errors import SavepointError
from migrator.jobs import change_log
from migrator.jobs.change_log import ChangeLog, LogApplier, chunks
from migrator.jobs.migration import refuse_unapplied_log
from migrator.jobs.plan import SnapshotPlan, _captures
from migrator.jobs.snapshot import task_groups
from migrator.changes import BatchCounts
from migrator.savepoints import SnapshotSavepoint


def config(**streaming):
    return parse_config({
        "source": {"type": "dynamodb", "table": "orders", "region": "us-east-1"},
        "target": {"type": "dynamodb", "region": "eu-west-1", "streamChanges": True},
        "savepoints": {"path": "/data/sp"},
        "streaming": streaming,
    })


def test_chunks_are_consecutive_batches_within_the_budget_and_never_empty():
    counts = {1: 40, 2: 50, 5: 30, 6: 200, 9: 10}
    assert chunks([1, 2, 5, 6, 9], counts, 100) == [[1, 2], [5], [6], [9]]
    assert chunks([1, 2, 5, 6, 9], counts, 1000) == [[1, 2, 5, 6, 9]]
    assert chunks([], counts, 100) == []


def test_across_batches_the_later_batch_wins_whatever_the_sequence_numbers():
    def row(batch, seq, value):
        return SimpleNamespace(event_name="MODIFY", keys='{"pk": {"S": "a"}}', batch=batch, sequence_number=str(seq),
                               new_image='{"pk": {"S": "a"}, "v": {"N": "%d"}}' % value, approximate_creation_time=None)

    # After a split, a key's next change comes from a child shard, in a later batch.
    rows = [row(2, 100, 3), row(1, 900, 1), row(2, 50, 2)]
    (change,), counts, _ = last_changes(rows, {}, log_order)
    assert change.image["v"] == {"N": "3"} and change.sequence == (2, 100) and counts.MODIFY == 3


def test_snapshot_tasks_are_dealt_round_robin_into_the_slots():
    assert task_groups(list(range(5)), 2) == [[0, 2, 4], [1, 3]]
    assert task_groups(list(range(2)), 8) == [[0], [1]]
    assert task_groups([7], 0) == [[7]]


def test_the_log_goes_under_savepoints_or_where_configured():
    assert config().change_log_location == "/data/sp/changelog/orders-to-orders"
    assert config(changeLogPath="s3a://b/log").change_log_location == "s3a://b/log"
    only_checkpoint = parse_config({
        "source": {"type": "dynamodb", "table": "orders", "region": "us-east-1"},
        "target": {"type": "dynamodb", "region": "eu-west-1", "streamChanges": True},
        "streaming": {"checkpointLocation": "/cp"},
    })
    assert only_checkpoint.change_log_location == "/cp/changelog"


def test_the_stream_is_captured_only_while_a_snapshot_with_stream_changes_has_segments_left():
    fresh = SnapshotSavepoint("orders", "orders", 4)
    assert _captures(config(), fresh, ["segment"])
    assert not _captures(config(changeLog=False), fresh, ["segment"])
    assert not _captures(config(), fresh, [])  # the snapshot is done: only the log is left to apply
    applied = SnapshotSavepoint("orders", "orders", 4, change_log_done=True)
    assert not _captures(config(), applied, ["segment"])


def plan(cfg, cores, captures, savepoint=None):
    return SnapshotPlan(
        config=cfg, source_spec=None, source=None, target=SimpleNamespace(problems=[]), target_spec=None,
        writer_spec=None,
        total_segments=4, segments=[], skipped_segments=set(), read_cap=None, write_cap=None, scan_limit=None,
        cores=cores, savepoint=savepoint or SnapshotSavepoint("orders", "orders", 4), store=None, resumed=False,
        captures=captures)


def test_the_capture_takes_one_core_and_needs_two():
    assert plan(config(), 4, True).snapshot_slots == 3
    assert plan(config(), 4, False).snapshot_slots == 4
    (problem,) = plan(config(), 1, True).problems
    assert problem.startswith("streaming.changeLog: the capture needs a core of its own") and "false" in problem
    assert plan(config(changeLog=False), 1, False).problems == []


def test_turning_the_log_off_with_changes_still_in_it_is_refused():
    pending = SnapshotSavepoint("orders", "orders", 4, change_log_path="/data/sp/changelog/orders-to-orders")
    with pytest.raises(SavepointError, match=r"streaming.changeLog is false, but .* not applied yet"):
        refuse_unapplied_log(plan(config(changeLog=False), 2, False, pending))
    refuse_unapplied_log(plan(config(), 2, True, pending))
    pending.change_log_done = True
    refuse_unapplied_log(plan(config(changeLog=False), 2, False, pending))


def test_a_savepoint_keeps_the_log_state():
    saved = SnapshotSavepoint("orders", "orders", 4, change_log_path="/log", change_log_applied=12)
    again = SnapshotSavepoint.from_json(saved.to_json())
    assert (again.change_log_path, again.change_log_applied, again.change_log_done) == ("/log", 12, False)


class FakeFiles:
    """The log's directories: batch id → changes; complete ones have _SUCCESS."""

    def __init__(self, batches):
        self.batches = dict(batches)
        self.removed = []

    def glob_parents(self, pattern):
        return [f"batch={b}" for b in self.batches]

    def size(self, path):
        return 0

    def remove(self, path):
        self.removed.append(path)
        self.batches.clear()


class FakeCapture:
    """Writes one more batch each time the applier looks, until stopped."""

    def __init__(self, files, more):
        self.files, self.more = files, list(more)
        self.stopped_with = None

    def raise_if_failed(self):
        pass

    def stop(self):
        self.stopped_with = sorted(self.files.batches)
        self.more.clear()

    def write_next(self):
        if self.more and self.stopped_with is None:
            batch, n = self.more.pop(0)
            self.files.batches[batch] = n


def test_the_apply_goes_on_while_capturing_then_stops_the_capture_and_applies_the_rest(monkeypatch):
    files = FakeFiles({0: 60_000, 1: 60_000, 2: 60_000})
    capture = FakeCapture(files, [(3, 10), (4, 10), (5, 10)])
    applied = []

    def apply_chunk(spark, log, batches, task, parts, table):
        applied.append(list(batches))
        capture.write_next()
        counts = BatchCounts(MODIFY=sum(files.batches[b] for b in batches))
        counts.puts = counts.MODIFY
        return counts

    monkeypatch.setattr(change_log, "apply_chunk", apply_chunk)
    savepoint = SnapshotSavepoint("orders", "orders", 4)
    saves = []
    applier = LogApplier(None, ChangeLog(files, "/log"), savepoint, lambda: saves.append(savepoint.change_log_applied),
                         task=None, parts=1, table="orders")
    applier._counts = lambda batches: {b: files.batches[b] for b in batches}
    result = applier.run(capture, threading.Event())
    # Three jobs of one big batch each while the capture went on; the rest in one job once it stopped.
    assert applied == [[0], [1], [2], [3, 4, 5]]
    assert capture.stopped_with == [0, 1, 2, 3, 4, 5]
    assert saves == [0, 1, 2, 5, 5] and savepoint.change_log_done
    assert result.totals.MODIFY == 180_030 and result.batches == 6
    assert files.removed == ["/log"]


def test_a_resumed_apply_starts_after_the_last_batch_applied_and_a_stop_leaves_it_resumable(monkeypatch):
    files = FakeFiles({0: 5, 3: 5, 7: 5})
    applied = []
    monkeypatch.setattr(change_log, "apply_chunk",
                        lambda spark, log, batches, *a: applied.append(batches) or BatchCounts())
    savepoint = SnapshotSavepoint("orders", "orders", 4, change_log_path="/log", change_log_applied=3)
    applier = LogApplier(None, ChangeLog(files, "/log"), savepoint, lambda: None, task=None, parts=1, table="orders")
    applier._counts = lambda batches: {b: files.batches[b] for b in batches}
    stop = threading.Event()
    stop.set()
    assert applier.run(None, stop) is None and applied == [] and not savepoint.change_log_done
    assert files.removed == []
    stop.clear()
    applier.run(None, stop)
    assert applied == [[7]] and savepoint.change_log_done


def test_replication_skips_the_batches_the_log_applied_already(monkeypatch):
    import contextlib

    from migrator.jobs import streaming

    monkeypatch.setattr(streaming, "spark_job", lambda *args: contextlib.nullcontext())
    ran = []
    applier = streaming.BatchApplier(
        streaming.ApplyTask(target=SimpleNamespace(name="orders"), renames={}, dead_letter_dir=None),
        "replicate orders", "orders", run=lambda df: ran.append(df) or [], skip_through=4)
    frame = SimpleNamespace(sparkSession=SimpleNamespace(sparkContext=None))
    applier(frame, 4)
    assert ran == [] and not applier.failed and not applier.busy.is_set()
    applier(frame, 5)
    assert ran == [frame]


def test_spark_writes_the_log_at_an_absolute_path_and_s3_through_s3a(tmp_path, monkeypatch):
    from migrator.jobs.migration import _spark_path

    monkeypatch.chdir(tmp_path)
    assert _spark_path("sp/changelog") == str(tmp_path / "sp" / "changelog")
    assert _spark_path("s3://bucket/sp/changelog") == "s3a://bucket/sp/changelog"
    assert _spark_path("hdfs:///sp/changelog") == "hdfs:///sp/changelog"
