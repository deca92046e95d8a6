"""The batch path that ships its function once: the same results, stage names and failures as
PySpark's public ``df.rdd.mapPartitions(fn).collect()``, on the pinned PySpark."""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest

from migrator.jobs.partition_runner import PartitionRunner, partition_runner, public_runner
from migrator.jobs.ui import spark_job


def summarize(offset, rows):
    rows = list(rows)
    yield {"rows": len(rows), "ids": sorted(r["id"] + offset for r in rows),
           "blobs": sorted(bytes(r["blob"]) for r in rows), "amounts": sorted(r["amount"] for r in rows)}
    yield {"empty": not rows}


def frame(spark, start, count):
    return spark.createDataFrame(
        [(i, bytes([i % 256, 0]), Decimal(f"{i}.{i:030d}")) for i in range(start, start + count)],
        "id long, blob binary, amount decimal(38,30)").repartition(3)


def test_results_match_the_public_path_batch_after_batch(spark):
    fn = functools.partial(summarize, 1000)
    runner = partition_runner(spark.sparkContext, fn)
    assert isinstance(runner, PartitionRunner)  # the pinned PySpark has what it uses
    for start, count in ((0, 50), (50, 7), (0, 0), (100, 2000)):
        df = frame(spark, start, count)
        fast, public = runner(df), public_runner(fn)(df)
        key = functools.partial(sorted, key=repr)
        assert key(fast) == key(public) and len(fast) == 2 * df.rdd.getNumPartitions()
        assert sum(part.get("rows", 0) for part in fast) == count


def test_stages_keep_our_name(spark):
    sc = spark.sparkContext
    runner = PartitionRunner(sc, functools.partial(summarize, 0))
    with spark_job(sc, "partition-runner-test", "a batch", "replicate t batch 7"):
        runner(frame(spark, 0, 10))
    tracker = sc.statusTracker()
    jobs = tracker.getJobIdsForGroup("partition-runner-test")
    names = {tracker.getStageInfo(s).name for job in jobs for s in tracker.getJobInfo(job).stageIds}
    assert jobs and names == {"replicate t batch 7"}


def fail(rows):
    raise RuntimeError("StreamTrimmedError: shard s1 no longer holds the records")
    yield


def test_a_failing_partition_raises_with_its_error(spark):
    with pytest.raises(Exception, match="StreamTrimmedError: shard s1 no longer holds"):
        PartitionRunner(spark.sparkContext, fail)(frame(spark, 0, 5))
