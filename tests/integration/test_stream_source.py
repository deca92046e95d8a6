"""The dynamodb-streams data source on its own, and replaying a batch, in this process."""

from __future__ import annotations

import json

import pytest

from devtools import datagen
from migrator.jobs.streaming import ApplyTask, apply_partition
from migrator.clients import ClientSpec
from migrator.targets.dynamodb.writer import DynamoDBTargetSpec
from migrator.sources.dynamodb import DynamoDBStreamsDataSource
from pydantic import SecretStr


def enable_stream(client, table, view="NEW_IMAGE"):
    client.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    return client.describe_table(TableName=table)["Table"]["LatestStreamArn"]


def test_read_stream_with_the_source_alone(ddb, spark, table_name, tmp_path):
    source, _ = ddb  # credentials: the default chain (the spark fixture's environment)
    datagen.create_table(source.client(), table_name)
    enable_stream(source.client(), table_name)
    items = datagen.all_types_items()[:6] + datagen.generate_items(20)
    datagen.put_items(source.client(), table_name, items, threads=1)
    source.client().delete_item(TableName=table_name, Key={"pk": items[0]["pk"], "sk": items[0]["sk"]})
    spark.dataSource.register(DynamoDBStreamsDataSource)
    stream = (spark.readStream.format("dynamodb-streams").option("table", table_name)
              .option("region", "us-east-1").option("endpoint", source.endpoint)
              .option("maxRecordsPerTrigger", "7").option("positionsPath", str(tmp_path / "positions")).load())
    # availableNow: read what the stream holds, then stop (the source polls every trigger, so
    # processAllAvailable() would wait for ever on a live stream).
    query = (stream.writeStream.format("memory").queryName(table_name).trigger(availableNow=True)
             .option("checkpointLocation", str(tmp_path / "checkpoint")).start())
    try:
        assert query.awaitTermination(180)
        rows = spark.sql(f"select * from {table_name}").collect()
        batches = [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]
    finally:
        query.stop()
    assert len(rows) == len(items) + 1
    assert max(batches) <= 7 and len(batches) >= 4  # admission control
    numbers = [int(r.sequence_number) for r in rows]
    assert numbers == sorted(numbers)
    assert [r.event_name for r in rows].count("REMOVE") == 1
    assert {r.shard_id for r in rows} and all(r.approximate_creation_time for r in rows)
    images = [json.loads(r.new_image) for r in rows if r.event_name == "INSERT"]
    assert datagen.by_key(datagen.normalize_wire(i) for i in images) == datagen.by_key(items)


def test_applying_the_same_batch_twice_gives_the_same_target(ddb, table_name):
    source, target = ddb
    datagen.create_table(target.client(), table_name)
    datagen.put_items(target.client(), table_name, datagen.generate_items(10))

    class Row:
        def __init__(self, event, key, image, number):
            self.event_name, self.sequence_number = event, f"{number:021d}"
            self.keys = json.dumps({"pk": {"S": key}, "sk": {"N": "1"}})
            self.new_image = json.dumps({"pk": {"S": key}, "sk": {"N": "1"}, **image}) if image is not None else None
            self.approximate_creation_time = None

    rows = [Row("INSERT", "a", {"v": {"N": "1"}}, 1), Row("MODIFY", "a", {"v": {"N": "2"}, "m": {"M": {}}}, 2),
            Row("INSERT", "b", {"v": {"N": "1"}}, 3), Row("REMOVE", "b", None, 4),
            Row("REMOVE", "item#00000001", None, 5)]
    spec = DynamoDBTargetSpec(ClientSpec(target.endpoint, "us-east-1", "l", SecretStr("l")), table_name, ["pk", "sk"],
                              25, 2)
    task = ApplyTask(spec, {}, None)
    (first,) = list(apply_partition(task, iter(rows)))
    after_once = datagen.by_key(datagen.scan_all(target.client(), table_name))
    (second,) = list(apply_partition(task, iter(rows)))
    after_twice = datagen.by_key(datagen.scan_all(target.client(), table_name))
    assert after_once == after_twice
    assert first == second and (first["puts"], first["deletes"]) == (1, 2)
    got = target.client().get_item(TableName=table_name, Key={"pk": {"S": "a"}, "sk": {"N": "1"}})["Item"]
    assert got == {"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": "2"}, "m": {"M": {}}}  # nothing of ours added


def test_the_retention_guard_reads_a_checkpoint_through_hadoop(spark, tmp_path):
    """A checkpoint URL (s3a://, hdfs://, here file://) is read with Spark's Hadoop file systems."""
    from migrator.errors import SavepointError, StreamTrimmedError
    from migrator.jobs.migration import RETENTION_SECONDS, check_retention

    now = 1_800_000_000.0
    url = (tmp_path / "cp").as_uri()
    with pytest.raises(StreamTrimmedError, match="pinned 48.0 hours ago"):
        check_retention(url, pinned_at=now - 2 * RETENTION_SECONDS, now=now, spark=spark)
    (tmp_path / "cp" / "offsets").mkdir(parents=True)
    (tmp_path / "cp" / "offsets" / "7").write_text("v1")
    check_retention(url, pinned_at=now - 2 * RETENTION_SECONDS, now=now, spark=spark)  # Spark has offsets
    with pytest.raises(SavepointError, match=r"streaming.checkpointLocation nosuchfs://x/cp: cannot be read"):
        check_retention("nosuchfs://x/cp", pinned_at=now, now=now, spark=spark)
