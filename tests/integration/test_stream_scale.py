"""Replication over many shards that split, throttle and expire: the multi-shard stream simulator
(devtools/streamsim), standing alone or in front of a DynamoDB Local table's real stream."""

from __future__ import annotations

import json
import re
import threading

import pytest

from devtools import datagen
from devtools.load import LoadGenerator
from devtools.stream_simulator import StreamSimulator
from migrator.sources.dynamodb import DynamoDBStreamsDataSource
from tests.conftest import eventually
from tests.integration.test_cli import end_background, kill_and_restart, run, start_background
from tests.integration.conftest import batches_logged
from tests.integration.test_streaming import assert_identical, converge_then_sigterm, log_text, streaming_config


def front_config(tmp_path, ddb, table, sim, **extra):
    """A streaming configuration whose Streams calls go to the simulator in front of the source."""
    source = {"streamsEndpoint": {"host": "127.0.0.1", "port": sim.port}, **extra.pop("source", {})}
    return streaming_config(tmp_path, ddb, table, source=source, **extra)


def assert_within_limits(sim):
    """DynamoDB Streams' limits, as the simulator saw them: never more than 5 GetRecords a second on a
    shard, never more than one reader of a shard at a time (two are allowed)."""
    stats = sim.stats()
    assert stats["max_get_records_per_second"] <= 5 and stats["max_in_flight"] <= 1, stats
    return stats


def test_the_source_alone_reads_a_splitting_many_shard_stream_to_its_ground_truth(spark, tmp_path):
    with StreamSimulator(shards=32, split_every=1.0, split_count=2, table="alone", rate=400.0, keys=300,
                         latency=0.005, seed=7) as sim:
        eventually(lambda: assert_records(sim, 2000), timeout=60)
        sim.set_rate(0)
        spark.dataSource.register(DynamoDBStreamsDataSource)
        batches: dict[int, list] = {}
        stream = (spark.readStream.format("dynamodb-streams").option("streamArn", sim.stream_arn())
                  .option("region", "us-east-1").option("streamsEndpoint", sim.endpoint)
                  .option("positionsPath", str(tmp_path / "positions")).option("maxRecordsPerTrigger", "700")
                  .load())
        query = (stream.writeStream.trigger(availableNow=True).option("checkpointLocation", str(tmp_path / "cp"))
                 .foreachBatch(lambda df, batch_id: batches.setdefault(batch_id, df.collect())).start())
        assert query.awaitTermination(240) and query.exception() is None
        truth, shards, stats = sim.truth(), sim.shards(sim.stream_arn()), assert_within_limits(sim)
    rows = [row for batch in batches.values() for row in batch]
    assert len(rows) == truth["records"] and len({(r.shard_id, r.sequence_number) for r in rows}) == len(rows)
    assert max(len(b) for b in batches.values()) <= 700 and len(batches) >= truth["records"] // 700
    last: dict[str, tuple] = {}
    for row in rows:
        key = json.loads(row.keys)["pk"]["S"]
        if key not in last or int(row.sequence_number) > int(last[key][0]):
            last[key] = (row.sequence_number, row.event_name, row.new_image)
    got = {k: (None if event == "REMOVE" else json.loads(image)) for k, (_, event, image) in last.items()}
    assert got == {k: v for k, v in truth["items"].items() if k in got}
    assert {k for k, v in truth["items"].items() if v is not None} <= set(got)
    parents = {s["ShardId"]: s.get("ParentShardId") for s in shards}
    assert stats["splits"] >= 4 and len(parents) > 32
    for batch in batches.values():
        read = {r.shard_id for r in batch}
        assert not any(parents.get(sid) in read for sid in read), "a child was read in its parent's batch"


def assert_records(sim, n):
    assert sim.truth()["records"] >= n


@pytest.mark.slow
def test_a_live_migration_over_a_resharded_stream_with_splits_converges(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(3000, seed=91, sizes=(100, 300)))
    load = LoadGenerator(source.client(), table_name, keys=3000, rate=150, seed=92)
    metrics = tmp_path / "metrics.jsonl"
    with StreamSimulator(upstream=source.endpoint, shards=8, split_every=3.0, latency=0.01, seed=3) as sim:
        load.start()
        config = front_config(tmp_path, ddb, table_name, sim, source={"scanSegments": 2},
                              streaming={"triggerSeconds": 1, "stopWhenIdleSeconds": 6},
                              metrics={"path": str(metrics)})
        proc, log = start_background(config, tmp_path)
        try:
            eventually(lambda: assert_batches(tmp_path, 6), timeout=240)
            ops = load.stop()
            assert proc.wait(timeout=240) == 0, log_text(tmp_path)[-3000:]
        finally:
            end_background(proc, log, load)
        stats = assert_within_limits(sim)
    assert stats["splits"] >= 3 and sum(ops.values()) > 1000
    assert assert_identical(ddb, table_name) > 2000
    batches = [json.loads(line) for line in metrics.read_text().splitlines() if '"replicate"' in line]
    assert max(b["shards_read"] for b in batches) >= 8 and all(b["lag_p99_seconds"] is not None for b in batches)
    assert "stopped (idle for 6 s)" in log_text(tmp_path)


def assert_batches(tmp_path, n):
    text = log_text(tmp_path)
    assert batches_logged(text) >= n, text[-2000:]


@pytest.mark.slow
def test_sigkill_during_replication_across_a_split_then_rerun_converges(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(1000, seed=93, sizes=(200,)))
    load = LoadGenerator(source.client(), table_name, keys=1500, rate=100, seed=94)
    with StreamSimulator(upstream=source.endpoint, shards=4, split_every=2.0, seed=5) as sim:
        config = front_config(tmp_path, ddb, table_name, sim)
        proc, log = start_background(config, tmp_path)
        try:
            eventually(lambda: assert_snapshot_done(tmp_path, table_name), timeout=180)
            load.start()
            eventually(lambda: assert_batches(tmp_path, 4), timeout=180)
            sim.split(sim.stream_arn(), count=4)  # the kill lands on a stream that just split
        finally:
            proc, log = kill_and_restart(proc, log, config, tmp_path)
        try:
            eventually(lambda: assert_batches(tmp_path, 2), timeout=180)
            converge_then_sigterm(proc, ddb, table_name, load)
        finally:
            end_background(proc, log, load)
        stats = assert_within_limits(sim)
    assert stats["splits"] >= 6
    assert "this run       : 0 items" in log_text(tmp_path)  # the snapshot was not copied again
    assert assert_identical(ddb, table_name) > 1000


def assert_snapshot_done(tmp_path, table):
    assert f"snapshot {table} -> {table}: done" in log_text(tmp_path)


@pytest.mark.slow
def test_a_throttling_storm_slows_replication_but_never_fails_it(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    items = datagen.generate_items(800, seed=95, sizes=(100,))
    with StreamSimulator(upstream=source.endpoint, shards=6, split_every=2.0, throttle_rate=0.4, describe_rate=2,
                         seed=11) as sim:
        datagen.put_items(source.client(), table_name, items)
        metrics = tmp_path / "metrics.jsonl"
        config = front_config(tmp_path, ddb, table_name, sim, target={"skipInitialSnapshotTransfer": True},
                              streaming={"stopWhenIdleSeconds": 5, "maxRecordsPerBatch": 100},
                              metrics={"path": str(metrics)})
        done = run("run", "--config", config, timeout=400)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        stats = assert_within_limits(sim)
    assert stats["throttled"]["injected"] > 30
    batches = [json.loads(line) for line in metrics.read_text().splitlines() if '"replicate"' in line]
    assert len(batches) >= 7 and sum(b["read_throttles"] for b in batches) > 10
    assert "reads throttled" in done.stdout
    assert assert_identical(ddb, table_name) == 800


@pytest.mark.slow
def test_records_trimmed_while_replication_was_down_stop_the_rerun_loudly(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    # Retention long enough for the first run's first (slowest) batch, short enough to wait out.
    with StreamSimulator(upstream=source.endpoint, shards=2, retention=20.0, seed=13) as sim:
        config = front_config(tmp_path, ddb, table_name, sim, target={"skipInitialSnapshotTransfer": True},
                              streaming={"stopWhenIdleSeconds": 3})
        proc, log = start_background(config, tmp_path)
        try:
            eventually(lambda: assert_replicating(tmp_path), timeout=180)
            datagen.put_items(source.client(), table_name, datagen.generate_items(100, seed=96))
            assert proc.wait(timeout=180) == 0, log_text(tmp_path)[-3000:]
        finally:
            end_background(proc, log)
        assert assert_identical(ddb, table_name) == 100
        # Changes made while replication is down outlive the stream's retention before it restarts.
        datagen.put_items(source.client(), table_name, datagen.generate_items(50, seed=97, start=500))
        eventually(lambda: assert_trimmed(sim, 50), timeout=90, interval=1.0)
        again = run("run", "--config", config)
    assert again.returncode == 2, again.stdout[-3000:] + again.stderr[-3000:]
    last = error_line(again.stderr)
    assert last.startswith("migrator: error: StreamTrimmedError: shard ") and "(in a Spark task)" in last
    assert "retention trimmed changes this migration had not applied yet, so they are lost; run a new snapshot" in last


def error_line(stderr):
    """migrator's one-line error. It comes after Spark's own log of the failed tasks, but a Python
    worker of Spark's may still flush its traceback after it, as the process ends."""
    lines = [line for line in stderr.splitlines() if line.startswith("migrator: error: ")]
    assert lines, stderr[-3000:]
    return lines[-1]


def assert_replicating(tmp_path):
    assert "replicating arn:" in log_text(tmp_path)


def assert_trimmed(sim, n):
    assert sim.stats()["trimmed"] >= n


@pytest.mark.parametrize("change_log", [True, False], ids=["change log", "no change log"])
def test_a_snapshot_that_outlasts_the_streams_retention(ddb, table_name, tmp_path, change_log):
    """With the change log, the capture reads each change within seconds, so a snapshot that outlasts the
    stream's retention three times still loses nothing. Without it, replication begins after the
    snapshot, when the first changes are trimmed: the first batch's proof stops it (without the proof
    it would start at the oldest remaining record and exit 0)."""
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(300, seed=71, sizes=(150, 250)))
    load = LoadGenerator(source.client(), table_name, keys=300, rate=20, seed=72)
    # The read cap makes the snapshot (about 45 s) outlast the stream's retention three times; writes
    # during its first 20 s are trimmed before it ends.
    with StreamSimulator(upstream=source.endpoint, shards=2, retention=15.0, seed=73) as sim:
        config = front_config(tmp_path, ddb, table_name, sim, source={"scanSegments": 2, "readThroughput": 1},
                              streaming={"stopWhenIdleSeconds": 3, "changeLog": change_log})
        proc, log = start_background(config, tmp_path)
        try:
            started = "first batch through" if change_log else "pinned: replication will start"
            eventually(lambda: assert_logged(tmp_path, started), timeout=180)
            load.start()
            threading.Timer(20.0, load.stop).start()
            code = proc.wait(timeout=300)
        finally:
            end_background(proc, log, load)
        ops = load.stop()
        trimmed = sim.stats()["trimmed"]
    text = log_text(tmp_path)
    assert sum(ops.values()) > 100 and trimmed > 0, (ops, trimmed)
    if change_log:
        assert code == 0, text[-5000:]
        assert f"change log {table_name}: applied" in text, text[-5000:]
        captured = re.findall(rf"capture {table_name}: ([\d,]+) changes in", text)
        assert captured and int(captured[-1].replace(",", "")) > 100, captured  # what the load wrote, logged
        assert assert_identical(ddb, table_name) > 0
        assert not (tmp_path / "sp" / "changelog").exists() or not any((tmp_path / "sp" / "changelog").iterdir())
        return
    assert code == 2, text[-5000:]
    last = error_line(text)
    assert last.startswith("migrator: error: StreamTrimmedError: shard ") and "(in a Spark task)" in last, last
    assert "records were trimmed from its start" in last and "run a new snapshot" in last
    assert "after the stream was pinned" in last


def assert_logged(tmp_path, text):
    assert text in log_text(tmp_path)
