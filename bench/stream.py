"""Replication lag and sustained rate: migrator beside a naive Lambda-style replicator, one run.

Two DynamoDB Local servers. A write load (puts, updates, deletes on a fixed key set) runs on the
source in steps of increasing rate. Beside it a probe writes one item every 50 ms carrying an
increasing number; a watcher polls that item on the target every 20 ms. A probe write's lag is
the time from its write to the first time the target shows it or a later one (end to end: source
write to visible on target). A step is "kept up" when p99 lag stays under 5 s and the last probe
write arrives within 10 s of the step's end.

Phase 1 runs ``python -m migrator run`` with streamChanges (1 s trigger). Phase 2 runs the naive
replicator: one GetRecords loop per shard polling 4 times a second, applying each record with a
single PutItem or DeleteItem, as a Lambda function on the stream does.

    .cache/venv/bin/python -m bench.stream [--rates 100,300,600,1200,2400] [--seconds 15]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devtools import datagen  # noqa: E402
from devtools.load import LoadGenerator  # noqa: E402
from devtools.servers import start_pair  # noqa: E402

TABLE = "bench_stream"
PROBE_KEY = {"pk": {"S": "bench-probe"}, "sk": {"N": "0"}}


class Probe:
    """Writes an increasing number into one item; watches it arrive on the target."""

    def __init__(self, source, target_table, target, source_table=TABLE):
        self.source, self.target, self.target_table = source.client(), target.client(), target_table
        self.source_table = source_table
        self.writes: list[tuple[int, float]] = []
        self.seen: list[tuple[float, int]] = []
        self.done = threading.Event()
        self.counter = 0

    def start(self) -> None:
        threading.Thread(target=self._write, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()

    def _write(self) -> None:
        while not self.done.wait(0.05):
            self.counter += 1
            at = time.time()
            self.source.put_item(TableName=self.source_table, Item={**PROBE_KEY, "n": {"N": str(self.counter)}})
            self.writes.append((self.counter, at))

    def _watch(self) -> None:
        while not self.done.wait(0.02):
            item = self.target.get_item(TableName=self.target_table, Key=PROBE_KEY).get("Item")
            if item:
                self.seen.append((time.time(), int(item["n"]["N"])))

    def lags(self, since: float, until: float) -> list[float]:
        out = []
        j = 0
        for number, at in self.writes:
            if not since <= at < until:
                continue
            while j < len(self.seen) and self.seen[j][1] < number:
                j += 1
            if j == len(self.seen):
                out.append(float("inf"))
            else:
                out.append(max(0.0, self.seen[j][0] - at))
        return out


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


def start_load(source, table, rate, keys=5000):
    """Load generators that together write ``rate`` operations a second: single operations up to
    300/s; above, BatchWriteItem of 25 puts and deletes, so that the load itself is not the limit."""
    batch = 1 if rate <= 300 else 25
    threads = max(1, int(rate // (150 if batch == 1 else 1500)) + 1)
    loads = [LoadGenerator(source.client(), table, keys=keys, rate=rate / threads, seed=rate * 10 + i, batch=batch)
             for i in range(threads)]
    for load in loads:
        load.start()
    return loads


def run_steps(name, source, probe, rates, seconds, table=TABLE) -> list[dict]:
    rows = []
    for rate in rates:
        started = time.time()
        loads = start_load(source, table, rate)
        time.sleep(seconds)  # the step's duration: load is applied at a steady rate meanwhile
        achieved = sum(sum(load.stop().values()) for load in loads) / (time.time() - started)
        ended = time.time()
        deadline = ended + 10
        last = probe.counter
        while time.time() < deadline and not any(n >= last for _, n in probe.seen[-50:]):
            time.sleep(0.1)
        lags = probe.lags(started + 2, ended)  # skip the step's first seconds
        finite = [x for x in lags if x != float("inf")]
        caught_up = any(n >= last for _, n in probe.seen[-50:])
        row = {"who": name, "rate": rate, "achieved": round(achieved), "p50": percentile(finite, 50),
               "p99": percentile(lags, 99), "kept_up": caught_up and percentile(lags, 99) < 5.0}
        rows.append(row)
        print(f"{name}: {rate} ops/s (achieved {achieved:.0f}): lag p50 {row['p50']:.2f} s, "
              f"p99 {row['p99']:.2f} s, {'kept up' if row['kept_up'] else 'FELL BEHIND'}", flush=True)
        time.sleep(3)  # let the replicator drain before the next step
    return rows


@contextlib.contextmanager
def start_migrator(tmp, source, target, table, source_extra="", streaming_extra=""):
    """``python -m migrator run`` of ``table`` (same name on both sides), logging to a file; SIGTERM at the end."""
    config = os.path.join(tmp, f"{table}.yaml")
    with open(config, "w") as f:
        f.write(f"""
source: {{type: dynamodb, table: {table}, endpoint: {{host: 127.0.0.1, port: {source.port}}}, region: us-east-1,
          credentials: {{accessKey: b, secretKey: b}}{source_extra}}}
target: {{type: dynamodb, table: {table}, endpoint: {{host: 127.0.0.1, port: {target.port}}}, region: us-east-1,
          credentials: {{accessKey: b, secretKey: b}}, streamChanges: true}}
savepoints: {{path: {tmp}/sp, intervalSeconds: 10}}
streaming: {{triggerSeconds: 1{streaming_extra}}}
""")
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    log_path = os.path.join(tmp, f"{table}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "migrator", "run", "--config", config,
                                 "--master", "local[2]"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=120)


def wait_for(proc, log_path, text, timeout=600.0):
    """Until the run's log holds ``text``; raises with the log if the run ends first."""
    deadline = time.time() + timeout
    while text not in open(log_path).read():
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(open(log_path).read()[-5000:])
        time.sleep(0.5)


def naive_replicator(source, target, table: str, arn: str, stop: threading.Event) -> None:
    streams, dst = source.client("dynamodbstreams"), target.client()

    def follow(shard_id: str) -> None:
        try:
            replicate(shard_id)
        except Exception:
            if not stop.is_set():  # servers going away at the end are not an error
                raise

    def replicate(shard_id: str) -> None:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id,
                                              ShardIteratorType="LATEST")["ShardIterator"]
        while not stop.is_set() and iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            iterator = page.get("NextShardIterator")
            for record in page["Records"]:
                data = record["dynamodb"]
                if "NewImage" in data:
                    image = {k: (v if v else {"M": {}}) for k, v in data["NewImage"].items()}
                    dst.put_item(TableName=table, Item=image)
                else:
                    dst.delete_item(TableName=table, Key=data["Keys"])
            if not page["Records"]:
                stop.wait(0.25)  # Lambda polls a shard about four times a second

    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        threading.Thread(target=follow, args=(shard["ShardId"],), daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,300,600,1200,2400")
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    source, target = start_pair()
    rows: list[dict] = []
    try:
        datagen.create_table(source.client(), TABLE)
        datagen.put_items(source.client(), TABLE, datagen.generate_items(2000, seed=5, sizes=(200,)))
        with tempfile.TemporaryDirectory() as tmp:
            with start_migrator(tmp, source, target, TABLE) as (proc, log_path):
                wait_for(proc, log_path, "replicating arn:")
                probe = Probe(source, TABLE, target)
                probe.start()
                time.sleep(5)  # the query's first micro-batch
                rows += run_steps("migrator", source, probe, rates, args.seconds)
                probe.done.set()
        naive_table = "bench_naive"
        datagen.create_table(target.client(), naive_table)
        arn = source.client().describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        stop = threading.Event()
        naive_replicator(source, target, naive_table, arn, stop)
        probe = Probe(source, naive_table, target)
        probe.start()
        time.sleep(2)
        rows += run_steps("naive", source, probe, rates, args.seconds)
        probe.done.set()
        stop.set()
    finally:
        source.stop()
        target.stop()
    best = {who: max([r["achieved"] for r in rows if r["who"] == who and r["kept_up"]], default=0)
            for who in ("migrator", "naive")}
    low = rates[0]
    m = next(r for r in rows if r["who"] == "migrator" and r["rate"] == low)
    n = next(r for r in rows if r["who"] == "naive" and r["rate"] == low)
    print(f"RESULT at {low} ops/s: migrator lag p50 {m['p50']:.2f} s / p99 {m['p99']:.2f} s (target p99 < 3 s), "
          f"naive p50 {n['p50']:.2f} s / p99 {n['p99']:.2f} s; largest achieved rate kept up: migrator "
          f"{best['migrator']} ops/s, naive {best['naive']} ops/s (steps {rates})")
    for rate in rates:
        mm = next(r for r in rows if r["who"] == "migrator" and r["rate"] == rate)
        nn = next(r for r in rows if r["who"] == "naive" and r["rate"] == rate)
        print(f"  step {rate:5d} ops/s  migrator (achieved {mm['achieved']}) p50 {mm['p50']:5.2f} p99 "
              f"{mm['p99']:6.2f} {'ok' if mm['kept_up'] else 'behind'}  |  naive (achieved {nn['achieved']}) "
              f"p50 {nn['p50']:5.2f} p99 {nn['p99']:6.2f} {'ok' if nn['kept_up'] else 'behind'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
