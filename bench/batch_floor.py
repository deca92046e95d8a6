"""What one Structured Streaming micro-batch costs the driver side in Python, whatever it carries:
``foreachBatch`` through PySpark's public ``df.rdd.mapPartitions(fn).collect()``, ``foreachBatch``
through migrator.jobs.partition_runner (what replication uses: the function shipped once), and a
Python streaming sink (``DataSourceStreamWriter``), measured in the same run.

All three consume Spark's ``rate`` source (1,000 rows a second, 2 partitions, 0.5 s trigger) on
local[2] and do the least a sink can: each partition counts its rows, and the counts reach the
driver side (a collect in ``foreachBatch``; commit messages in the sink, whose commit writes one
small file). CPU is the user + system time of this process (the driver's Python, where
``foreachBatch`` runs) and of every Python process Spark started (executors' workers, the worker
that runs a sink's commit), over the same number of batches, after a warm-up (a Python process
that ends inside the window is counted at neither end, so the figures are lower bounds; rounds
alternate the order and the result is their median). The first two figures are the floor of the
driver's cost per batch with and without the function shipped once (bench/stream_scale.py reports
migrator's whole cost); the last compares the sink with ``foreachBatch`` in all Python processes.

    .cache/venv/bin/python -m bench.batch_floor [--seconds 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pyspark.sql.datasource import DataSource, DataSourceStreamWriter, WriterCommitMessage  # noqa: E402

from migrator.jobs.partition_runner import PartitionRunner  # noqa: E402


@dataclass
class Counted(WriterCommitMessage):
    rows: int


class CountingWriter(DataSourceStreamWriter):
    def __init__(self, path: str):
        self.path = path

    def write(self, rows: Iterator[Any]) -> Counted:
        return Counted(sum(1 for _ in rows))

    def commit(self, messages: list, batch_id: int) -> None:
        with open(os.path.join(self.path, f"{batch_id}.txt"), "w") as f:
            f.write(str(sum(m.rows for m in messages if m is not None)))

    def abort(self, messages: list, batch_id: int) -> None:
        pass


class CountingSink(DataSource):
    @classmethod
    def name(cls) -> str:
        return "bench-counting-sink"

    def schema(self) -> str:
        return "value long"

    def streamWriter(self, schema: Any, overwrite: bool) -> CountingWriter:
        return CountingWriter(self.options["path"])


def python_cpu() -> tuple[float, float]:
    """(this process, this process and every Python process below it) CPU seconds."""
    import psutil

    me = psutil.Process()
    own = sum(me.cpu_times()[:2])
    total = own
    for child in me.children(recursive=True):
        try:
            if "python" in child.name():
                total += sum(child.cpu_times()[:2])
        except psutil.Error:
            pass
    return own, total


def count_rows(rows: Iterator[Any]) -> list:
    return [sum(1 for _ in rows)]


def count_partitions(df: Any, batch_id: int) -> None:
    df.rdd.mapPartitions(count_rows).collect()


def measure(spark: Any, kind: str, seconds: float, work: str) -> dict:
    out = tempfile.mkdtemp(dir=work)
    stream = (spark.readStream.format("rate").option("rowsPerSecond", 1000).option("numPartitions", 2).load()
              .selectExpr("value"))
    writer = stream.writeStream.option("checkpointLocation", os.path.join(out, "checkpoint"))
    writer = writer.trigger(processingTime="0.5 seconds")
    if kind == "sink":
        query = writer.format(CountingSink.name()).option("path", out).start()
    elif kind == "runner":
        runner = PartitionRunner(spark.sparkContext, count_rows)
        query = writer.foreachBatch(lambda df, batch_id: runner(df)).start()
    else:
        query = writer.foreachBatch(count_partitions).start()
    try:
        while query.lastProgress is None or query.lastProgress["batchId"] < 5:  # warm-up
            time.sleep(0.2)
        first, (own0, all0) = query.lastProgress["batchId"], python_cpu()
        time.sleep(seconds)
        last, (own1, all1) = query.lastProgress["batchId"], python_cpu()
    finally:
        query.stop()
    batches = max(1, last - first)
    return {"batches": batches, "driver_ms": (own1 - own0) / batches * 1000,
            "python_ms": (all1 - all0) / batches * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[2]").appName("bench batch floor")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.dataSource.register(CountingSink)
    kinds = ("foreachBatch", "runner", "sink")
    rows: dict[str, list[dict]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as work:
        for i in range(args.rounds):
            for kind in (kinds if i % 2 == 0 else kinds[::-1]):
                row = measure(spark, kind, args.seconds, work)
                rows[kind].append(row)
                print(f"{kind:12} {row['batches']:4d} batches: driver's Python {row['driver_ms']:5.1f} ms a batch, "
                      f"all Python processes {row['python_ms']:6.1f} ms a batch", flush=True)
    spark.stop()

    def median(kind: str, field: str) -> float:
        values = sorted(r[field] for r in rows[kind])
        return values[len(values) // 2]

    fb, sink = median("foreachBatch", "python_ms"), median("sink", "python_ms")
    public, runner = median("foreachBatch", "driver_ms"), median("runner", "driver_ms")
    print(f"RESULT: driver's Python a batch: foreachBatch {public:.1f} ms through df.rdd, {runner:.1f} ms "
          f"through PartitionRunner ({public / max(runner, 1e-9):.2f}x lower); all Python CPU a batch: "
          f"foreachBatch {fb:.1f} ms, Python sink {sink:.1f} ms ({sink / max(fb, 1e-9):.2f}x foreachBatch's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
