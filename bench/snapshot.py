"""Snapshot copy speed: migrator beside a plain threaded copier, in one run.

Two DynamoDB Local servers (or, with ``--target mongodb``, a DynamoDB Local source and a
MongoDB-wire server); a generated table of mixed item sizes on the source. Each round copies the
whole table to a fresh target twice: once with ``python -m migrator run`` (a real CLI run on an
embedded ``local[N]`` Spark), once with a plain copier at the same parallelism (N threads scanning
N segments, handing batches to a pool of N x W writer threads: 25-item BatchWriteItem calls, or
for MongoDB boto3's TypeDeserializer and ``insert_many`` of 1000 documents, as a hand-written
copier does). Both create their target before the clock starts. Printed: items/s of each, their
ratio (target >= 0.9), and the migrator driver's peak memory (Python process and its JVM). With ``--botocore``,
each round also copies with ``botocoreCalls: true`` (the hot calls through botocore instead of the wire-JSON
path), after the other two, and prints its ratio to that round's plain copier.

    .cache/venv/bin/python -m bench.snapshot [--items 50000] [--segments 2] [--rounds 3] [--target mongodb] [--botocore]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devtools import datagen  # noqa: E402
from devtools.servers import DynamoDBLocal, MongoWireServer, start_pair  # noqa: E402

SOURCE = "bench_source"


def baseline_copy(source, target, table: str, segments: int, writers: int) -> tuple[int, float]:
    """The plain copier: returns (items, seconds)."""
    src = source.client()
    count = 0
    lock = threading.Lock()
    pool = ThreadPoolExecutor(segments * writers)
    chunk = 25
    if hasattr(target, "uri"):  # MongoDB
        from boto3.dynamodb.types import TypeDeserializer
        from bson import Decimal128

        collection = target.client()["bench"][table]
        collection.database.create_collection(table)
        deserializer = TypeDeserializer()
        chunk = 1000

        def plain(value):
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, (list, set)):
                return [plain(v) for v in value]
            if hasattr(value, "as_tuple"):  # Decimal
                return int(value) if value == value.to_integral_value() else Decimal128(value)
            if hasattr(value, "value") and isinstance(getattr(value, "value"), bytes):  # boto3 Binary
                return value.value
            return value

        def write(batch):
            docs = []
            for item in batch:
                doc = plain({k: deserializer.deserialize(v) for k, v in item.items()})
                doc["_id"] = {"pk": doc["pk"], "sk": doc["sk"]}
                docs.append(doc)
            collection.insert_many(docs, ordered=False)
    else:
        dst = target.client()
        datagen.create_table(dst, table)

        def write(batch):
            pending = [{"PutRequest": {"Item": item}} for item in batch]
            while pending:
                pending = dst.batch_write_item(RequestItems={table: pending}).get("UnprocessedItems", {}).get(table, [])

    def scan(segment: int) -> list:
        nonlocal count
        futures = []
        kwargs = {"TableName": SOURCE, "Segment": segment, "TotalSegments": segments}
        while True:
            page = src.scan(**kwargs)
            items = page["Items"]
            futures.extend(pool.submit(write, items[i:i + chunk]) for i in range(0, len(items), chunk))
            with lock:
                count += len(items)
            if "LastEvaluatedKey" not in page:
                return futures
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    started = time.monotonic()
    with ThreadPoolExecutor(segments) as scanners:
        all_futures = [f for fs in scanners.map(scan, range(segments)) for f in fs]
    for f in all_futures:
        f.result()
    seconds = time.monotonic() - started
    pool.shutdown()
    return count, seconds


def migrator_copy(source, target, table: str, segments: int, writers: int,
                  botocore: bool = False) -> tuple[int, float, dict]:
    """A real CLI run; returns (items, seconds of the copy, peak memory in MiB). ``botocore``: with
    ``botocoreCalls: true`` on both sides (the hot calls through botocore, not the wire-JSON path)."""
    import psutil

    calls = f"botocoreCalls: {'true' if botocore else 'false'}"
    if hasattr(target, "uri"):
        target.client()["bench"].create_collection(table)
        target_yaml = (f"{{type: mongodb, uri: '{target.uri}', database: bench, collection: {table}, "
                       f"writeConcurrency: {writers}, exists: append}}")
    else:
        datagen.create_table(target.client(), table)
        target_yaml = (f"{{type: dynamodb, table: {table}, endpoint: {{host: 127.0.0.1, port: {target.port}}}, "
                       f"region: us-east-1, credentials: {{accessKey: b, secretKey: b}}, writeConcurrency: {writers}, "
                       f"{calls}}}")
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "bench.yaml")
        with open(config, "w") as f:
            f.write(f"""
source: {{type: dynamodb, table: {SOURCE}, endpoint: {{host: 127.0.0.1, port: {source.port}}},
          region: us-east-1, credentials: {{accessKey: b, secretKey: b}}, scanSegments: {segments}, {calls}}}
target: {target_yaml}
savepoints: {{path: {tmp}/savepoints, intervalSeconds: 10}}
""")
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
        proc = subprocess.Popen([sys.executable, "-m", "migrator", "run", "--config", config,
                                 "--master", f"local[{segments}]"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
        peaks = {"python": 0.0, "jvm": 0.0}
        done = threading.Event()

        def sample() -> None:
            me = psutil.Process(proc.pid)
            while not done.wait(0.2):
                try:
                    peaks["python"] = max(peaks["python"], me.memory_info().rss / 2**20)
                    jvm = sum(c.memory_info().rss for c in me.children() if c.name() == "java")
                    peaks["jvm"] = max(peaks["jvm"], jvm / 2**20)
                except psutil.Error:
                    pass

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output, _ = proc.communicate()
        done.set()
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"migrator failed:\n{output}")
    match = re.search(r"this run\s*: ([\d,]+) items .* in ([\d,.]+) s", output)
    return int(match.group(1).replace(",", "")), float(match.group(2).replace(",", "")), peaks


def drop(target, table: str) -> None:
    if hasattr(target, "uri"):
        target.client()["bench"].drop_collection(table)
    else:
        target.client().delete_table(TableName=table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--segments", type=int, default=2, help="Scan segments = Spark cores = copier threads")
    parser.add_argument("--writers", type=int, default=4, help="writes in flight per segment")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", choices=["dynamodb", "mongodb"], default="dynamodb")
    parser.add_argument("--botocore", action="store_true",
                        help="also copy with botocoreCalls: true each round (the wire-JSON path against botocore)")
    args = parser.parse_args()
    if args.target == "mongodb":
        source, target = DynamoDBLocal().start(), MongoWireServer().start()
    else:
        source, target = start_pair()
    try:
        print(f"loading {args.items:,} items of mixed sizes...", flush=True)
        datagen.create_table(source.client(), SOURCE)
        datagen.put_items(source.client(), SOURCE, datagen.generate_items(args.items, seed=3), threads=8)
        # DynamoDB Local is a JVM: whoever copies first pays for its JIT warm-up. Warm it once,
        # untimed, then alternate which copier goes first.
        print("warming up both servers with an untimed plain copy...", flush=True)
        baseline_copy(source, target, "bench_warmup", args.segments, args.writers)
        drop(target, "bench_warmup")
        rows, botocore_rows = [], []
        for r in range(args.rounds):
            if r % 2:
                b_items, b_secs = baseline_copy(source, target, f"bench_b{r}", args.segments, args.writers)
                m_items, m_secs, peaks = migrator_copy(source, target, f"bench_m{r}", args.segments, args.writers)
            else:
                m_items, m_secs, peaks = migrator_copy(source, target, f"bench_m{r}", args.segments, args.writers)
                b_items, b_secs = baseline_copy(source, target, f"bench_b{r}", args.segments, args.writers)
            rows.append((m_items / m_secs, b_items / b_secs, peaks))
            print(f"round {r + 1}: migrator {m_items:,} items in {m_secs:.1f} s = {m_items / m_secs:,.0f} items/s; "
                  f"plain copier {b_items:,} items in {b_secs:.1f} s = {b_items / b_secs:,.0f} items/s; "
                  f"ratio {m_items / m_secs / (b_items / b_secs):.2f}", flush=True)
            for table in (f"bench_m{r}", f"bench_b{r}"):
                drop(target, table)
            if args.botocore:
                o_items, o_secs, _ = migrator_copy(source, target, f"bench_o{r}", args.segments, args.writers, True)
                botocore_rows.append(o_items / o_secs / (b_items / b_secs))
                print(f"         migrator with botocoreCalls: true {o_items:,} items in {o_secs:.1f} s = "
                      f"{o_items / o_secs:,.0f} items/s; ratio to the plain copier {botocore_rows[-1]:.2f}", flush=True)
                drop(target, f"bench_o{r}")
        # Medians: one slow round (a JVM pause on a 2-core machine) should not decide the result.
        m = statistics.median(r[0] for r in rows)
        b = statistics.median(r[1] for r in rows)
        ratio = statistics.median(r[0] / r[1] for r in rows)
        py = max(r[2]["python"] for r in rows)
        jvm = max(r[2]["jvm"] for r in rows)
        print(f"RESULT target={args.target} items={args.items} segments={args.segments} writers={args.writers}: migrator {m:,.0f} items/s, "
              f"plain copier {b:,.0f} items/s, median ratio {ratio:.2f} over {len(rows)} rounds (target >= 0.9); "
              f"driver peak RSS: "
              f"python {py:,.0f} MiB, JVM {jvm:,.0f} MiB")
        if botocore_rows:
            print(f"RESULT with botocoreCalls: true: median ratio {statistics.median(botocore_rows):.2f}")
    finally:
        source.stop()
        target.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
