"""Replication at real-table scale: lag, drain time and driver cost from 1 to 1,024 stream shards,
beside a KCL-style consumer measured in the same run.

The stream is the multi-shard simulator (devtools/streamsim) making changes itself at a fixed total
rate over its shards, answering like DynamoDB Streams: 15 ms per call, 5 GetRecords a second per
shard, two readers per shard, 10 DescribeStream a second, ``LimitExceededException`` beyond, and
shards splitting every ``--split-every`` seconds. For each shard count, each consumer gets a fresh
stream and a fresh target table on DynamoDB Local:

- **migrator**: the product's replication (``jobs.streaming.run_streaming``: our source, the
  ``foreachBatch`` apply) on local[2] in this process, 1 s trigger;
- **kcl**: bench/kcl_style.py, one poller thread per shard, 1 s idle poll.

Lag is each record's creation time to its write on the target, counted by both the same way (every
record, not a sample); drain is the time from the end of the load until every change was applied;
driver CPU is what the driver side of Spark spends (the planner process that plans the batches and
the driver's Python, which runs ``foreachBatch``) per 10,000 records. Every run ends by comparing the
target table with the simulator's ground truth (last change per key). ``--baseline REF`` also runs
the stream source of an earlier commit (default: the one before this source, which read every record
on the driver) at ``--baseline-shards``, for the driver CPU ratio. ``--rates`` measures the highest
sustained rate at ``--rates-shards``: the largest step whose backlog drains within 5 s of its end.

    .cache/venv/bin/python -m bench.stream_scale [--shards 1,16,64,256,1024] [--rate 1000] [--seconds 40]
        [--split-every 10] [--rates 1000,2000,4000] [--rates-shards 64] [--baseline 762058b]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from typing import Any
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.kcl_style import KclStyleConsumer  # noqa: E402
from devtools import datagen  # noqa: E402
from devtools.servers import DynamoDBLocal  # noqa: E402
from devtools.stream_simulator import StreamSimulator  # noqa: E402
from migrator.lag import LagHistogram  # noqa: E402

DRAIN_TIMEOUT = 600.0
WARM_UP = 50


def simulator(shards: int, args: argparse.Namespace, seed: int) -> StreamSimulator:
    return StreamSimulator(shards=shards, table="bench", rate=0.0, keys=args.keys, payload=100, seed=seed,
                           latency=0.015, get_records_rate=5, max_readers=2, describe_rate=10,
                           split_every=args.split_every or None).start()


def process_cpu(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def planner_pids() -> list[int]:
    """The driver-side Python processes that plan streaming batches (children of the driver's JVM)."""
    import psutil

    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "python_streaming_source_runner" in " ".join(process.cmdline()):
                found.append(process.pid)
        except psutil.Error:  # gone, or a zombie
            pass
    return found


def matches_truth(client: Any, table: str, truth: dict) -> tuple[int, int]:
    """(keys compared, keys wrong): the target against the simulator's last change per key."""
    got = {item["pk"]["S"]: item for item in datagen.scan_all(client, table)}
    wrong = 0
    for key, image in truth["items"].items():
        item = got.pop(key, None)
        if image is None:
            wrong += item is not None
        elif item is None or _plain(item) != _plain(image):
            wrong += 1
    return len(truth["items"]), wrong + len(got)


def _plain(item: dict) -> dict:
    return {k: Decimal(v["N"]) if "N" in v else v for k, v in item.items()}


class MigratorRun:
    """The product's replication in a thread of this process, stopped through its stop event."""

    def __init__(self, spark: Any, sim: StreamSimulator, target: DynamoDBLocal, table: str, work: str,
                 baseline: Any = None):
        from migrator.clients import ClientSpec
        from migrator.jobs.streaming import ApplyTask
        from migrator.targets.dynamodb.writer import DynamoDBTargetSpec
        from pydantic import SecretStr

        self.spark, self.sim = spark, sim
        self.source = ClientSpec(None, "us-east-1", "bench", SecretStr("bench"), streams_endpoint_url=sim.endpoint)
        spec = ClientSpec(target.endpoint, "us-east-1", "bench", SecretStr("bench"))
        self.task = ApplyTask(DynamoDBTargetSpec(spec, table, ["pk"], 25, 4), {}, None)
        self.checkpoint = os.path.join(work, f"cp-{table}")
        self.metrics_path = os.path.join(work, f"metrics-{table}.jsonl")
        self.baseline = baseline
        self.stop = threading.Event()
        self._read_to = 0
        self._batches: list[dict] = []
        self.result: Any = None
        self.error: BaseException | None = None

    def start(self) -> "MigratorRun":
        threading.Thread(target=self._run, name="migrator-replication", daemon=True).start()
        return self

    def _run(self) -> None:
        from migrator.jobs.streaming import run_streaming
        from migrator.metrics import Metrics
        from migrator.sources.dynamodb.backend import BACKEND, DynamoDBSourceSpec

        metrics = Metrics(self.metrics_path)
        patch = (mock.patch("migrator.sources.dynamodb.with_client_spec", self.baseline) if self.baseline
                 else contextlib.nullcontext())
        try:
            with patch:
                self.result = run_streaming(self.spark, BACKEND, DynamoDBSourceSpec(self.source, "bench"),
                                            self.sim.stream_arn(), self.task, "bench", self.checkpoint, 1.0, 10_000,
                                            None, self.stop, metrics=metrics, read_partitions=2)
        except BaseException as exc:  # noqa: BLE001 - reported by the bench
            self.error = exc
        finally:
            metrics.close()

    def wait_ready(self) -> None:
        """Until the query has run a few (empty) batches: Spark's first micro-batch is slow, and a
        load started before it would measure Spark's start-up, not replication."""
        while not any(len(q.recentProgress) >= 3 for q in self.spark.streams.active):
            if self.error is not None:
                raise self.error
            time.sleep(0.2)

    def batches(self) -> list[dict]:
        """The batch records of the metrics file so far (read on from where the last call stopped,
        so that polling costs the driver's process next to nothing)."""
        if os.path.exists(self.metrics_path):
            with open(self.metrics_path, "rb") as f:
                f.seek(self._read_to)
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # a line still being written
                    self._read_to += len(line)
                    record = json.loads(line)
                    if record["job"] == "replicate":
                        self._batches.append(record)
        return self._batches

    def applied(self) -> int:
        return sum(r["inserts"] + r["modifies"] + r["removes"] for r in self.batches())

    def finish(self) -> LagHistogram:
        self.stop.set()
        while self.result is None and self.error is None:
            time.sleep(0.2)
        if self.error is not None:
            raise self.error
        return self.result.totals.lags


class KclRun:
    def __init__(self, sim: StreamSimulator, target: DynamoDBLocal, table: str, shards: int):
        import boto3
        from botocore.config import Config

        config = Config(max_pool_connections=shards * 2 + 16, retries={"mode": "standard", "total_max_attempts": 1})
        streams = boto3.client("dynamodbstreams", endpoint_url=sim.endpoint, region_name="us-east-1",
                               aws_access_key_id="b", aws_secret_access_key="b", config=config)
        self.consumer = KclStyleConsumer(streams, target.client(), sim.stream_arn(), table)

    def start(self) -> "KclRun":
        self.consumer.start()
        return self

    def wait_ready(self) -> None:
        while len(self.consumer._leased) == 0:
            time.sleep(0.1)

    def applied(self) -> int:
        if self.consumer.errors:
            raise self.consumer.errors[0]
        return self.consumer.applied

    def finish(self) -> LagHistogram:
        self.consumer.stop()
        return self.consumer.lags


def measure(who: str, spark: Any, target: DynamoDBLocal, shards: int, rate: float, seconds: float,
            args: argparse.Namespace, work: str, baseline: Any = None) -> dict:
    """One consumer on a fresh stream: load for ``seconds``, drain, check, report."""
    table = f"bench_{who}_{shards}_{int(rate)}_{int(time.time() * 1000) % 10**8}"
    datagen.create_table(target.client(), table, hash_only=True)
    sim = simulator(shards, args, seed=shards)
    try:
        run = (KclRun(sim, target, table, shards) if who == "kcl"
               else MigratorRun(spark, sim, target, table, work, baseline)).start()
        run.wait_ready()
        # A few changes first, so that both consumers meet a warm target (DynamoDB Local's first writes
        # to a new table are slow) and have their clients built before the measured load.
        sim.generate(WARM_UP)
        while run.applied() < WARM_UP:
            time.sleep(0.1)
        pids = planner_pids() if who != "kcl" else []
        planner_before, driver_before = process_cpu(pids), process_cpu([os.getpid()])
        sim.set_rate(rate)
        time.sleep(seconds)  # the load: the simulator writes at a steady rate meanwhile
        sim.set_rate(0)
        load_end = time.monotonic()
        # The count alone: the ground truth (every key's image) costs this process a JSON parse
        # of tens of milliseconds, which is the bench's, not the driver's.
        generated = sim.stats()["records_total"]
        while run.applied() < generated and time.monotonic() - load_end < DRAIN_TIMEOUT:
            time.sleep(0.1)
        drain = time.monotonic() - load_end
        planner_cpu, driver_cpu = process_cpu(pids) - planner_before, process_cpu([os.getpid()]) - driver_before
        applied = run.applied()
        lags = run.finish()
        durations = [b["duration_seconds"] for b in run.batches()] if who != "kcl" else []
        keys, wrong = matches_truth(target.client(), table, sim.truth())
        stats = sim.stats()
    finally:
        sim.stop()
    row = {"who": who, "shards": shards, "rate": rate, "records": generated, "applied": applied,
           "p50": lags.quantile(0.5), "p99": lags.quantile(0.99), "drain": drain,
           "planner_per_10k": planner_cpu / generated * 10_000 if who != "kcl" and generated else None,
           "driver_per_10k": driver_cpu / generated * 10_000 if who != "kcl" and generated else None,
           "keys": keys, "wrong": wrong, "throttled": sum(stats.get("throttled", {}).values()),
           "shards_at_end": stats.get("shards", {}),
           "batch_seconds": sum(durations) / len(durations) if durations else None}
    print(f"{who:9s} {shards:5d} shards {rate:6.0f}/s: lag p50 {row['p50'] or 0:6.2f} s p99 {row['p99'] or 0:6.2f} s, "
          f"drain {drain:6.1f} s, {generated:,} records, {keys:,} keys {wrong} wrong, throttled {row['throttled']}"
          + (f", driver CPU per 10k records: planner {row['planner_per_10k']:.3f} s, foreachBatch process "
             f"{row['driver_per_10k']:.3f} s" if row["planner_per_10k"] is not None else "")
          + (f", batches take {row['batch_seconds']:.2f} s" if row["batch_seconds"] is not None else ""),
          flush=True)
    return row


def load_baseline(ref: str, work: str) -> Any:
    """The stream source of commit ``ref`` as an importable package (its relative imports made
    absolute, so it runs against today's helpers), bound like ``with_client_spec``."""
    package = os.path.join(work, "baseline_source")
    os.makedirs(package, exist_ok=True)
    for name in ("__init__.py", "streams.py"):
        text = subprocess.run(["git", "-C", ROOT, "show", f"{ref}:migrator/sources/dynamodb/{name}"],
                              capture_output=True, text=True, check=True).stdout
        text = text.replace("from ...", "from migrator.")
        with open(os.path.join(package, name), "w") as f:
            f.write(text)
    sys.path.insert(0, work)
    os.environ["PYTHONPATH"] = work + os.pathsep + os.environ.get("PYTHONPATH", "")
    module = importlib.import_module("baseline_source")
    return module.with_client_spec


def spark_session() -> Any:
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").appName("bench-stream-scale")
             .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.sql.shuffle.partitions", "2")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", default="1,16,64,256,1024")
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--split-every", type=float, default=10.0)
    parser.add_argument("--rates", default="1000,2000,4000,8000,16000")
    parser.add_argument("--rates-shards", type=int, default=64)
    parser.add_argument("--rates-seconds", type=float, default=20.0)
    parser.add_argument("--baseline", default="762058b")
    parser.add_argument("--baseline-shards", type=int, default=16)
    parser.add_argument("--only", choices=["migrator", "kcl"], default=None)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    consumers = [args.only] if args.only else ["migrator", "kcl"]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as work, DynamoDBLocal(heap="2g") as target:
        baseline = load_baseline(args.baseline, work) if args.baseline else None
        spark = spark_session()
        # Unreported warm-up rounds: the JVMs (Spark's, DynamoDB Local's) start cold, and the first
        # measured run would pay for that. Which consumer goes first then alternates.
        print("warming up (not reported)", flush=True)
        for who in consumers:
            measure(who, spark, target, 4, args.rate, 15.0, args, work)
        for i, shards in enumerate(int(s) for s in args.shards.split(",") if s):
            for who in (consumers if i % 2 == 0 else consumers[::-1]):
                rows.append(measure(who, spark, target, shards, args.rate, args.seconds, args, work))
        if baseline is not None:
            rows.append(measure("baseline", spark, target, args.baseline_shards, args.rate, args.seconds, args,
                                work, baseline))
        sustained = {}
        for who in consumers:
            best = 0.0
            for rate in [float(r) for r in args.rates.split(",") if r]:
                row = measure(who, spark, target, args.rates_shards, rate, args.rates_seconds, args, work)
                rows.append(row)
                if row["drain"] > 5.0 or row["wrong"]:
                    break
                best = rate
            sustained[who] = best
        spark.stop()
    report(rows, sustained, args)
    return 0 if all(r["wrong"] == 0 for r in rows) else 1


def report(rows: list[dict], sustained: dict, args: argparse.Namespace) -> None:
    def row(who: str, shards: int) -> dict | None:
        return next((r for r in rows if r["who"] == who and r["shards"] == shards and r["rate"] == args.rate), None)

    print(f"\nRESULT at {args.rate:.0f} changes/s for {args.seconds:.0f} s, splits every {args.split_every:g} s "
          "(lag: creation to written, every record):")
    print("| shards | migrator p50 / p99 lag | KCL-style p50 / p99 lag | p99 ratio | drain migrator / KCL-style | keys wrong |")
    print("|---|---|---|---|---|---|")
    for shards in [int(s) for s in args.shards.split(",") if s]:
        m, k = row("migrator", shards), row("kcl", shards)
        if not m or not k:
            continue
        print(f"| {shards} | {m['p50']:.2f} / {m['p99']:.2f} s | {k['p50']:.2f} / {k['p99']:.2f} s | "
              f"{m['p99'] / k['p99']:.2f} | {m['drain']:.1f} / {k['drain']:.1f} s | {m['wrong']} / {k['wrong']} |")
    base = next((r for r in rows if r["who"] == "baseline"), None)
    ours = row("migrator", args.baseline_shards)
    if base and ours:
        for part, name in (("planner_per_10k", "planner process (plans batches)"),
                           ("driver_per_10k", "driver's Python (runs foreachBatch)")):
            print(f"driver CPU per 10,000 records at {args.baseline_shards} shards, {name}: migrator "
                  f"{ours[part]:.3f} s, the source of {args.baseline} {base[part]:.3f} s: "
                  f"{base[part] / max(ours[part], 1e-9):.1f}x lower")
        total_ours, total_base = ours["planner_per_10k"] + ours["driver_per_10k"], base["planner_per_10k"] + base["driver_per_10k"]
        print(f"  both together: migrator {total_ours:.3f} s, {args.baseline} {total_base:.3f} s: "
              f"{total_base / total_ours:.1f}x lower (target >= 10x)")
    if args.rates:
        print(f"highest sustained rate at {args.rates_shards} shards (backlog drained within 5 s): "
              + ", ".join(f"{who} {rate:.0f} changes/s" for who, rate in sustained.items()))


if __name__ == "__main__":
    raise SystemExit(main())
