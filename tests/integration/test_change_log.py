"""The change log: a crash while the capture runs beside the snapshot, or while the log is applied,
resumes on the rerun and converges (DynamoDB Local's real stream; the outlasting snapshot is in
test_stream_scale.py)."""

from __future__ import annotations

import json

import pytest

from devtools import datagen
from devtools.load import LoadGenerator
from tests.conftest import eventually
from tests.integration.test_cli import end_background, kill_and_restart, start_background
from tests.integration.test_streaming import assert_identical, converge_then_sigterm, log_text, streaming_config


def assert_logged(tmp_path, *texts):
    text = log_text(tmp_path)
    assert all(t in text for t in texts), text[-2000:]


def savepoint(tmp_path):
    (path,) = (tmp_path / "sp").glob("snapshot-*.json")
    return json.loads(path.read_text())


def assert_capturing(tmp_path, table):
    """The capture has written batches into the log, and the snapshot is under way."""
    text = log_text(tmp_path)
    assert f"snapshot {table}: " in text and "0 changes in 0 batches" not in text.split("into the change log")[-2]
    assert "batches into the change log" in text, text[-2000:]


def rerun_converges(proc, log, ddb, table, load, tmp_path):
    """The rerun applies the log and goes on live; once the load stops the target equals the source."""
    try:
        eventually(lambda: assert_logged(tmp_path, f"change log {table}: applied", "replicating arn:"), timeout=240)
        converge_then_sigterm(proc, ddb, table, load)
    finally:
        end_background(proc, log, load)
    return log_text(tmp_path)


@pytest.mark.slow
def test_sigkill_during_the_snapshot_with_the_capture_running_then_rerun_converges(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(600, seed=81, sizes=(200, 400)))
    load = LoadGenerator(source.client(), table_name, keys=900, rate=60, seed=82)
    # The read cap makes the snapshot last about a minute, so the kill lands in it.
    config = streaming_config(tmp_path, ddb, table_name, source={"scanSegments": 3, "readThroughput": 3})
    proc, log = start_background(config, tmp_path)
    try:
        eventually(lambda: assert_logged(tmp_path, "first batch through"), timeout=180)
        load.start()
        eventually(lambda: assert_capturing(tmp_path, table_name), timeout=120)
        eventually(lambda: assert_logged(tmp_path, "batches into the change log", "segments done"), timeout=60)
    finally:
        proc, log = kill_and_restart(proc, log, config, tmp_path)
    killed = (tmp_path / "killed-run.log").read_text()
    assert f"snapshot {table_name} -> {table_name}: done" not in killed, killed[-3000:]
    text = rerun_converges(proc, log, ddb, table_name, load, tmp_path)
    assert "resuming:" in text  # the snapshot went on from its savepoint
    assert savepoint(tmp_path)["change_log_done"] is True
    assert assert_identical(ddb, table_name) > 500


@pytest.mark.slow
def test_sigkill_while_the_change_log_is_applied_then_rerun_converges(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(400, seed=83, sizes=(200,)))
    load = LoadGenerator(source.client(), table_name, keys=1500, rate=30, seed=84)
    # A slow snapshot (about 30 s) gathers several hundred changes; the write cap makes their apply last
    # seconds, and still keeps up with the load once replication goes on live.
    config = streaming_config(tmp_path, ddb, table_name, source={"scanSegments": 2, "readThroughput": 2},
                              target={"writeThroughput": 45})
    proc, log = start_background(config, tmp_path)
    try:
        eventually(lambda: assert_logged(tmp_path, "first batch through"), timeout=180)
        load.start()
        eventually(lambda: assert_logged(tmp_path, "stopping the capture to hand over", "changes of "),
                   timeout=240, interval=0.2)
    finally:
        proc, log = kill_and_restart(proc, log, config, tmp_path)
    killed = (tmp_path / "killed-run.log").read_text()
    assert "applied in full" not in killed, killed[-3000:]
    text = rerun_converges(proc, log, ddb, table_name, load, tmp_path)
    assert "every segment is already copied" in text and "capture " + table_name + ": reading" not in text
    assert assert_identical(ddb, table_name) > 400
