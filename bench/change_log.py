"""The change log's cost, one run: live lag with and without it, and how fast a log is applied.

Three migrations of fresh 2,000-item tables, each between two fresh DynamoDB Local servers
(``python -m migrator run``, ``local[2]``, 1 s trigger), measured with bench/stream.py's probe (one
item rewritten every 50 ms on the source, watched on the target every 20 ms) and its load steps:

1. ``streaming.changeLog: false``: replication reads the stream directly after the snapshot.
2. ``streaming.changeLog: true`` (the default): the capture ran during the snapshot, replication
   went on from its checkpoint. Same steps: the live lag of both, and the highest rate each kept up.
3. The log's apply: a snapshot slowed by a read cap while a load of ``--log-rate`` operations a
   second runs for 10 s (on 20,000 keys: the table grows, and the snapshot lasts a minute or two);
   the log of those changes is applied once the snapshot is done. Its rate (changes/s, from the run's summary, counting the listing and the last capture batches) is
   compared with the highest rate live replication kept up in step 2.

Targets (issue 12): live lag with the log within 1 s of the direct path; the log applied at least
as fast as live replication's highest sustained rate.

    .cache/venv/bin/python -m bench.change_log [--rates 100,600,1200] [--seconds 15] [--log-rate 1500]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.stream import Probe, run_steps, start_load, start_migrator, wait_for  # noqa: E402
from devtools import datagen  # noqa: E402
from devtools.servers import start_pair  # noqa: E402

APPLIED = re.compile(r"changes        : ([\d,]+) INSERT, ([\d,]+) MODIFY, ([\d,]+) REMOVE in ([\d,.]+) s "
                     r"\(([\d,]+) changes/s\)")


def live_steps(tmp, source, target, table, change_log, rates, seconds):
    datagen.create_table(source.client(), table)
    datagen.put_items(source.client(), table, datagen.generate_items(2000, seed=5, sizes=(200,)))
    with start_migrator(tmp, source, target, table, streaming_extra=f", changeLog: {str(change_log).lower()}") as (
            proc, log_path):
        wait_for(proc, log_path, "replicating arn:")
        probe = Probe(source, table, target, source_table=table)
        probe.start()
        time.sleep(5)  # the query's first micro-batch
        name = "with log" if change_log else "direct"
        rows = run_steps(name, source, probe, rates, seconds, table=table)
        probe.done.set()
    return rows


def log_apply(tmp, source, target, table, rate):
    """(changes applied, seconds, changes/s) of a log gathered at ``rate`` ops/s during a slow snapshot."""
    datagen.create_table(source.client(), table)
    datagen.put_items(source.client(), table, datagen.generate_items(2000, seed=6, sizes=(200,)))
    with start_migrator(tmp, source, target, table, source_extra=", scanSegments: 2, readThroughput: 10") as (
            proc, log_path):
        wait_for(proc, log_path, "first batch through")
        loads = start_load(source, table, rate, keys=20_000)
        try:
            wait_for(proc, log_path, "segments done")  # the snapshot is under way
            time.sleep(10)
        finally:
            achieved = sum(sum(load.stop().values()) for load in loads)
        wait_for(proc, log_path, "replicating arn:")
        text = open(log_path).read()
    found = APPLIED.search(text)
    if not found:
        raise RuntimeError(text[-5000:])
    changes = sum(int(found.group(i).replace(",", "")) for i in (1, 2, 3))
    print(f"log apply: {achieved:,} operations during the snapshot, {changes:,} changes applied in "
          f"{found.group(4)} s ({found.group(5)} changes/s)", flush=True)
    return changes, float(found.group(4).replace(",", "")), int(found.group(5).replace(",", ""))


def on_fresh_servers(phase, tmp, table, *args):
    source, target = start_pair()
    try:
        return phase(tmp, source, target, table, *args)
    finally:
        source.stop()
        target.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,600,1200")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--log-rate", type=int, default=1500)
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        # Fresh servers per phase: DynamoDB Local slows down as its streams fill up, which would
        # favour whichever phase runs first.
        direct = on_fresh_servers(live_steps, tmp, "bench_direct", False, rates, args.seconds)
        logged = on_fresh_servers(live_steps, tmp, "bench_logged", True, rates, args.seconds)
        changes, seconds, apply_rate = on_fresh_servers(log_apply, tmp, "bench_log_apply", args.log_rate)
    low = rates[0]
    d = next(r for r in direct if r["rate"] == low)
    g = next(r for r in logged if r["rate"] == low)
    best = max([r["achieved"] for r in logged if r["kept_up"]], default=0)
    for rate in rates:
        a = next(r for r in direct if r["rate"] == rate)
        b = next(r for r in logged if r["rate"] == rate)
        print(f"  step {rate:5d} ops/s  direct p50 {a['p50']:5.2f} p99 {a['p99']:6.2f} "
              f"{'ok' if a['kept_up'] else 'behind'}  |  with log p50 {b['p50']:5.2f} p99 {b['p99']:6.2f} "
              f"{'ok' if b['kept_up'] else 'behind'}")
    print(f"RESULT live lag at {low} ops/s: with the log p50 {g['p50']:.2f} s / p99 {g['p99']:.2f} s, direct "
          f"p50 {d['p50']:.2f} s / p99 {d['p99']:.2f} s: p50 difference {g['p50'] - d['p50']:+.2f} s "
          f"(target within 1 s)")
    print(f"RESULT log apply: {changes:,} changes in {seconds:.1f} s, {apply_rate:,} changes/s = "
          f"{apply_rate / best if best else float('inf'):.2f}x live replication's highest kept-up rate "
          f"({best:,} ops/s; target >= 1x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
