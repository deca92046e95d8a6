"""Savepoints: round trip, atomic replacement, clear errors."""

from __future__ import annotations

import os

import pytest

from migrator.errors import SavepointError
from migrator.savepoints import SavepointStore, SegmentState, SnapshotSavepoint, savepoint_name


def sample():
    sp = SnapshotSavepoint("orders", "orders_copy", 4, "http://src:8000", "AWS eu-west-1")
    sp.segments[0] = SegmentState(done=True, items=10)
    sp.segments[3] = SegmentState(last_key={"pk": {"B": "AP8="}, "sk": {"N": "12345678901234567890123456789012345678"}},
                                  items=7, skipped=1)
    return sp


def test_round_trip(tmp_path):
    store = SavepointStore(str(tmp_path / "sp"), savepoint_name("orders", "orders_copy"))
    assert store.load() is None
    store.save(sample())
    loaded = store.load()
    assert loaded.segments == sample().segments
    assert loaded.done_segments == {0} and not loaded.complete
    assert loaded.total_segments == 4
    assert os.listdir(tmp_path / "sp") == ["snapshot-orders-to-orders_copy.json"]  # no temp file left


def test_replacement_keeps_the_old_file_until_the_new_one_is_complete(tmp_path, monkeypatch):
    store = SavepointStore(str(tmp_path), "s.json")
    store.save(sample())

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken_replace)
    changed = sample()
    changed.segments[1] = SegmentState(done=True)
    with pytest.raises(SavepointError, match=r"cannot write savepoint .*s\.json: disk full"):
        store.save(changed)
    monkeypatch.undo()
    assert 1 not in store.load().segments
    assert os.listdir(tmp_path) == ["s.json"]


def test_unreadable_or_foreign_savepoints_say_what_to_do(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(SavepointError, match="unreadable .*move it away to start the copy over"):
        SavepointStore(str(tmp_path), "s.json").load()
    path.write_text('{"version": 99}')
    with pytest.raises(SavepointError, match="has version 99"):
        SavepointStore(str(tmp_path), "s.json").load()


def test_savepoint_names_are_safe_file_names():
    assert savepoint_name("a.b-c", "x/y") == "snapshot-a.b-c-to-x_y.json"
