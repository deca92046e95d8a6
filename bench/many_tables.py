"""Many tables: one run of a ``tables`` configuration beside one run per table, in the same run of this script.

Two DynamoDB Local servers; ``--tables`` source tables of ``--items`` items each. Each round copies every
table twice, to fresh target tables, with the migrator CLI on an embedded ``local[N]`` Spark:

- **many**: one ``python -m migrator run`` of a configuration with ``tables`` (every table, one Spark
  application, snapshots several at once);
- **one by one**: one ``python -m migrator run`` per table, in sequence, as a user without ``tables``
  would script it (Spark started, checks run, and stopped, once per table).

Printed per round: the wall time of each (process start to exit, Spark's start-up included), the sum of
the one-by-one runs' copy times (each run's own "this run ... in X s"), the start-up and planning time
each single run pays on top of its copy (its wall time less its copy time), and the issue's target:
the many run beats the one-by-one runs by more than the start-ups it saves (all but one):
``(one by one - many) / (start-up each x (tables - 1)) > 1``. The rounds alternate which goes first.

    .cache/venv/bin/python -m bench.many_tables [--tables 10] [--items 5000] [--rounds 2] [--cores 2]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devtools import datagen  # noqa: E402
from devtools.servers import start_pair  # noqa: E402

PREFIX = "bench_many"


def _cli(config_text: str, cores: int) -> tuple[float, str]:
    """One CLI run of ``config_text``; (wall seconds, output). Raises when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "bench.yaml")
        with open(config, "w") as f:
            f.write(config_text.replace("{tmp}", tmp))
        env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "migrator", "run", "--config", config, "--master",
                               f"local[{cores}]"], capture_output=True, text=True, env=env)
        seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"migrator failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return seconds, done.stdout


def _sides(source, target) -> str:
    where = "region: us-east-1, credentials: {accessKey: b, secretKey: b}"
    return (f"source: {{type: dynamodb, endpoint: {{host: 127.0.0.1, port: {source.port}}}, {where}, TABLE}}\n"
            f"target: {{type: dynamodb, endpoint: {{host: 127.0.0.1, port: {target.port}}}, {where}, TARGET}}\n"
            "savepoints: {path: '{tmp}/savepoints', intervalSeconds: 10}\n")


def copy_times(output: str) -> list[float]:
    """The copy time of every snapshot summary in a run's output."""
    return [float(s.replace(",", "")) for s in re.findall(r"this run\s*: [\d,]+ items from \d+ segments in ([\d,.]+) s",
                                                          output)]


def many(source, target, names: list[str], suffix: str, cores: int) -> tuple[float, list[float]]:
    config = (_sides(source, target).replace(", TABLE", "").replace(", TARGET", "")
              + f"tables: {{include: ['{PREFIX}_*'], targetSuffix: '{suffix}'}}\n")
    seconds, output = _cli(config, cores)
    copies = copy_times(output)
    if len(copies) != len(names) or f"{len(names)} done, 0 failed" not in output:
        raise RuntimeError(f"the many-tables run did not copy every table:\n{output[-4000:]}")
    return seconds, copies


def one_by_one(source, target, names: list[str], suffix: str, cores: int) -> tuple[float, list[float]]:
    started = time.monotonic()
    copies = []
    for name in names:
        config = _sides(source, target).replace("TABLE", f"table: {name}").replace("TARGET", f"table: {name}{suffix}")
        _, output = _cli(config, cores)
        copies += copy_times(output)
    return time.monotonic() - started, copies


def drop(target, suffix: str, names: list[str]) -> None:
    client = target.client()
    for name in names:
        client.delete_table(TableName=name + suffix)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=10)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="the embedded Spark's cores (local[N])")
    args = parser.parse_args()
    source, target = start_pair()
    names = [f"{PREFIX}_{n:02d}" for n in range(args.tables)]
    try:
        print(f"loading {args.tables} tables of {args.items:,} items...", flush=True)
        client = source.client()
        for n, name in enumerate(names):
            datagen.create_table(client, name)
            datagen.put_items(client, name, datagen.generate_items(args.items, seed=n, sizes=(200, 800)), threads=8)
        print("warming up both servers (an untimed run of every table)...", flush=True)
        many(source, target, names, "_warm", args.cores)
        drop(target, "_warm", names)
        rows = []
        for r in range(args.rounds):
            order = [("many", many), ("one by one", one_by_one)]
            results = {}
            for label, run in (order if r % 2 == 0 else order[::-1]):
                results[label] = run(source, target, names, f"_{label.replace(' ', '')}{r}", args.cores)
                drop(target, f"_{label.replace(' ', '')}{r}", names)
            many_wall, many_copies = results["many"]
            single_wall, single_copies = results["one by one"]
            startup = (single_wall - sum(single_copies)) / args.tables
            saved = single_wall - many_wall
            ratio = saved / (startup * (args.tables - 1))
            rows.append((many_wall, single_wall, sum(single_copies), startup, ratio))
            print(f"round {r + 1}: many {many_wall:.1f} s (its copies {sum(many_copies):.1f} s, several at once); "
                  f"one by one {single_wall:.1f} s (copies {sum(single_copies):.1f} s, start-up and checks "
                  f"{startup:.1f} s a run); saved {saved:.1f} s = {ratio:.2f} x the {args.tables - 1} start-ups "
                  "saved", flush=True)
        print(f"median: many {statistics.median(r[0] for r in rows):.1f} s, one by one "
              f"{statistics.median(r[1] for r in rows):.1f} s, sum of the single runs' copies "
              f"{statistics.median(r[2] for r in rows):.1f} s, start-up {statistics.median(r[3] for r in rows):.1f} s "
              f"a run; saved / start-ups saved = {statistics.median(r[4] for r in rows):.2f} (target > 1)")
    finally:
        source.stop()
        target.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
