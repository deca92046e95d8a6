"""Live replication end to end: CLI runs that enable the stream, copy, replicate, and converge."""

from __future__ import annotations

import json
import os
import re
import signal

import pytest

from devtools import datagen
from devtools.load import LoadGenerator
from tests.conftest import eventually
from tests.integration.conftest import batches_logged
from tests.integration.test_cli import end_background, kill_and_restart, run, start_background, write_config


def assert_identical(ddb, table):
    """Source and target hold the same items: nothing missing, nothing extra, nothing different."""
    source, target = ddb
    before = datagen.by_key(datagen.scan_all(source.client(), table))
    after = datagen.by_key(datagen.scan_all(target.client(), table))
    missing = before.keys() - after.keys()
    extra = after.keys() - before.keys()
    differ = [k for k in before.keys() & after.keys() if before[k] != after[k]]
    assert (len(missing), len(extra), len(differ)) == (0, 0, 0), (
        f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}, different {differ[:3]}")
    return len(before)


def converge_then_sigterm(proc, ddb, table, load):
    """Stop the load, wait until the target equals the source, then SIGTERM the run (exit 143)."""
    load.stop()
    eventually(lambda: assert_identical(ddb, table), timeout=120, interval=1.0)
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) == 143


def streaming_config(tmp_path, ddb, table, **extra):
    extra.setdefault("savepoints", {"path": str(tmp_path / "sp"), "intervalSeconds": 1})
    target = {"streamChanges": True, **extra.pop("target", {})}
    return write_config(tmp_path / "stream.yaml", ddb, table, target=target, **extra)


def log_text(tmp_path):
    return (tmp_path / "first-run.log").read_text()


@pytest.mark.slow
def test_load_during_stream_setup_snapshot_and_replication_converges(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(10_000, seed=61, sizes=(100, 300)))
    load = LoadGenerator(source.client(), table_name, keys=10_000, rate=150, seed=62)
    load.start()
    metrics = tmp_path / "metrics.jsonl"
    config = streaming_config(tmp_path, ddb, table_name, source={"scanSegments": 4},
                              streaming={"triggerSeconds": 1, "stopWhenIdleSeconds": 6},
                              metrics={"path": str(metrics)})
    proc, log = start_background(config, tmp_path)
    try:
        def replicating():
            text = log_text(tmp_path)
            assert batches_logged(text) >= 3, text[-2000:]
        eventually(replicating, timeout=240)
        ops = load.stop()
        assert proc.wait(timeout=240) == 0, log_text(tmp_path)[-3000:]
    finally:
        end_background(proc, log, load)
    text = log_text(tmp_path)
    assert "enabling a NEW_IMAGE stream" in text and "stopped (idle for 6 s)" in text
    assert sum(ops.values()) > 1000 and ops["delete"] > 100
    assert assert_identical(ddb, table_name) > 5000
    assert_metrics_match_the_log(metrics, text, ops["delete"])


def assert_metrics_match_the_log(path, text, deleted):
    """The metrics file holds the snapshot's progress and summary and one record per logged batch."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    snapshot = [r for r in records if r["job"] == "snapshot"]
    assert snapshot[-1]["event"] == "summary" and snapshot[-1]["segments_done"] == snapshot[-1]["segments_total"] == 4
    assert snapshot[-1]["items_written"] >= 10_000 - deleted  # the load deletes some before they are read
    capture = [r for r in records if r["job"] == "capture"]
    assert capture[-1]["event"] == "summary" and capture[-1]["changes"] > 0 and capture[-1]["log_bytes"] > 0
    assert any(r["event"] == "progress" for r in snapshot)
    batches = [r for r in records if r["job"] == "replicate"]
    logged = re.findall(r"batch (\d+): \| INSERT \| (\d+) \| MODIFY \| (\d+) \| REMOVE \| (\d+) \|", text)
    assert [(str(r["batch"]), str(r["inserts"]), str(r["modifies"]), str(r["removes"])) for r in batches] == logged
    assert all(r["puts"] + r["deletes"] <= r["inserts"] + r["modifies"] + r["removes"] for r in batches)
    assert all(r["duration_seconds"] > 0 for r in batches)


@pytest.mark.slow
def test_sigkill_during_replication_then_rerun_converges_and_sigterm_stops_cleanly(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(2000, seed=71, sizes=(200,)))
    load = LoadGenerator(source.client(), table_name, keys=2500, rate=100, seed=72)
    config = streaming_config(tmp_path, ddb, table_name)
    proc, log = start_background(config, tmp_path)
    try:
        def snapshot_done():
            assert "snapshot " + table_name + " -> " + table_name + ": done" in log_text(tmp_path)
        eventually(snapshot_done, timeout=180)
        load.start()

        def replicating():
            assert batches_logged(log_text(tmp_path)) >= 4
        eventually(replicating, timeout=180)
    finally:
        # Changes keep coming while the job is down, and during the rerun; once they stop and the
        # target has caught up, SIGTERM ends the rerun after the batch in flight.
        proc, log = kill_and_restart(proc, log, config, tmp_path)
    try:
        def resumed():
            assert "batch " in log_text(tmp_path).split("replicating arn:")[-1]
        eventually(resumed, timeout=180)
        converge_then_sigterm(proc, ddb, table_name, load)
    finally:
        end_background(proc, log, load)
    text = log_text(tmp_path)
    assert "this run       : 0 items" in text  # the snapshot was not copied again
    assert "stopping after the batch in flight (SIGTERM)" in text
    assert "replicate " + table_name + ": stopped (signal)" in text
    assert assert_identical(ddb, table_name) > 1000


def test_a_stream_without_new_images_is_refused_with_what_to_change(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name,
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    done = run("run", "--config", streaming_config(tmp_path, ddb, table_name), "--dry-run")
    assert done.returncode == 2
    assert "stream       : INCOMPATIBLE: source table" in done.stdout
    assert "view type KEYS_ONLY" in done.stdout and "NEW_IMAGE or NEW_AND_OLD_IMAGES" in done.stdout
    real = run("run", "--config", streaming_config(tmp_path, ddb, table_name))
    assert real.returncode == 2 and "view type KEYS_ONLY" in real.stderr


@pytest.mark.slow
def test_an_existing_stream_is_used_and_skip_initial_snapshot_replicates_changes_only(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    old = datagen.generate_items(100, seed=81)
    datagen.put_items(source.client(), table_name, old)
    source.client().update_table(TableName=table_name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    # Changes after the stream exists: the only ones a changes-only run may carry.
    new = datagen.generate_items(40, seed=82, start=1000)
    datagen.put_items(source.client(), table_name, new)
    source.client().delete_item(TableName=table_name, Key={"pk": old[0]["pk"], "sk": old[0]["sk"]})
    config = streaming_config(tmp_path, ddb, table_name, target={"skipInitialSnapshotTransfer": True},
                              streaming={"stopWhenIdleSeconds": 5})
    done = run("run", "--config", config)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "using the existing NEW_AND_OLD_IMAGES stream" in done.stdout
    assert "items copied" not in done.stdout  # no snapshot
    copied = datagen.by_key(datagen.scan_all(target.client(), table_name))
    assert copied == datagen.by_key(new)
