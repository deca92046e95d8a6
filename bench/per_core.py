"""Items per client CPU-second: a DynamoDB copy on one core, plain boto3 beside the migrator's executor function.

On AWS what a copy costs is executor CPU: botocore parses every Scan answer attribute by attribute and serializes
every BatchWriteItem. To measure that alone, the source and the target are a canned DynamoDB endpoint
(``devtools/canned_dynamodb.py``: Scan pages built once, BatchWriteItem answered without parsing, in its own process),
so the client is the bottleneck; with two or more CPUs the client process is pinned to one and the server to another.
Each round copies the same ``--pages`` Scan pages of ``--page-items`` items (one segment, about 380 bytes of JSON an
item, every attribute type) with, in turn:

- **plain boto3**: a default ``boto3.client("dynamodb")`` paginating ``scan`` and writing each page with
  ``batch_write_item``, 25 puts a call, one after the other (what a hand-written copier does);
- **migrator, botocore** and **migrator, wire JSON**: ``migrator.jobs.snapshot.copy_segment``, the function a Spark
  task runs, with ``ClientSpec(wire_json=False)`` and ``ClientSpec(wire_json=True)``; its writer's threads count
  on the same core.

Every copier copies the segment once untimed first (imports, clients, connections; the migrator's clients are then
its process-wide shared ones, as on a reused Spark worker; plain boto3 reuses the clients it built). The copiers
alternate within each round. CPU is ``time.process_time()`` of this process (all of its threads); the server's CPU
over the same copy is printed beside it, to show it is not what limits the copy. The wire JSON copier uses the
codec the package would (orjson; ``--codec json`` for the standard library's).

Printed: per round, each copier's items, client CPU seconds, wall seconds, items per client CPU-second, items per
wall second and server CPU seconds; then the medians and the ratios of items per CPU-second: wire / plain boto3
(the issue's target: at least 3), botocore migrator / plain boto3 and wire / botocore migrator, and whether the
target is met. The exit status is 0 either way.

    .cache/venv/bin/python -m bench.per_core [--pages 40] [--page-items 1000] [--rounds 3] [--port 0] [--codec json]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import statistics
import sys
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from devtools.canned_dynamodb import CannedDynamoDB  # noqa: E402

SOURCE, TARGET = "bench_source", "bench_target"
TARGET_RATIO = 3.0
PLAIN, BOTOCORE, WIRE = "plain boto3", "migrator, botocore", "migrator, wire JSON"


def pin(server_pid: int) -> str:
    """This process on one CPU, the server on another (when there are two); says which."""
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})
    if len(cpus) < 2:
        return f"one CPU ({cpus[0]}): client and server share it"
    os.sched_setaffinity(server_pid, {cpus[1]})
    return f"client on CPU {cpus[0]}, server on CPU {cpus[1]}"


def plain_copier(endpoint: str) -> Callable[[], int]:
    """The hand-written copier: its two clients built once, then Scan pages written 25 items a call."""
    import boto3

    def client() -> Any:
        return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                            aws_access_key_id="x", aws_secret_access_key="y")

    src, dst = client(), client()

    def copy() -> int:
        copied = 0
        for page in src.get_paginator("scan").paginate(TableName=SOURCE, Segment=0, TotalSegments=1):
            items = page["Items"]
            for i in range(0, len(items), 25):
                pending = [{"PutRequest": {"Item": item}} for item in items[i:i + 25]]
                while pending:
                    answer = dst.batch_write_item(RequestItems={TARGET: pending})
                    pending = answer.get("UnprocessedItems", {}).get(TARGET, [])
            copied += len(items)
        return copied

    return copy


def migrator_copier(endpoint: str, wire_json: bool) -> Callable[[], int]:
    """``copy_segment`` of the whole segment, as one Spark task runs it (no progress channel, no caps)."""
    from pydantic import SecretStr

    from migrator.clients import ClientSpec
    from migrator.jobs.snapshot import SegmentTask, copy_segment
    from migrator.sources.base import Segment
    from migrator.sources.dynamodb.backend import DynamoDBSourceSpec
    from migrator.targets.dynamodb.writer import DynamoDBTargetSpec

    spec = ClientSpec(endpoint_url=endpoint, region="us-east-1", access_key="x", secret_key=SecretStr("y"),
                      wire_json=wire_json)

    def copy() -> int:
        task = SegmentTask(
            segment=Segment(0, 1, None), base_items=0, base_skipped=0, base_filtered=0,
            source=DynamoDBSourceSpec(spec, SOURCE), target=DynamoDBTargetSpec(spec, TARGET, ["pk", "sk"]),
            renames={}, ttl_attribute=None, now=time.time(), scan_limit=None, read_rate=None, write_rate=None,
            dead_letter_dir=None, progress=None)
        return copy_segment(task)["items"]

    return copy


@dataclasses.dataclass
class Measure:
    items: int
    cpu: float
    wall: float
    server_cpu: float

    @property
    def per_cpu(self) -> float:
        return self.items / self.cpu

    @property
    def per_wall(self) -> float:
        return self.items / self.wall


def measure(copy: Callable[[], int], server: CannedDynamoDB, expected: int) -> Measure:
    gc.collect()
    server_before = server.cpu_seconds()
    cpu, wall = time.process_time(), time.perf_counter()
    items = copy()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server_cpu = server.cpu_seconds() - server_before
    if items != expected:
        raise SystemExit(f"a copy reported {items:,} items, not the {expected:,} the endpoint serves")
    return Measure(items, cpu, wall, server_cpu)


def table(rows: dict[str, Measure]) -> list[str]:
    out = [f"  {'copier':<21}{'items':>9}{'client CPU s':>14}{'wall s':>9}{'items/CPU-s':>13}{'items/s':>10}"
           f"{'server CPU s':>14}"]
    for name, m in rows.items():
        out.append(f"  {name:<21}{m.items:>9,}{m.cpu:>14.2f}{m.wall:>9.2f}{m.per_cpu:>13,.0f}{m.per_wall:>10,.0f}"
                   f"{m.server_cpu:>14.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=40, help="Scan pages in the segment")
    parser.add_argument("--page-items", type=int, default=1000, help="items per Scan page")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=0, help="the canned endpoint's port; 0: a free one")
    parser.add_argument("--codec", choices=["default", "json"], default="default",
                        help="the wire JSON path's codec: the package's (orjson) or the standard library's")
    args = parser.parse_args(argv)
    import migrator.wire_json

    if args.codec == "json":
        migrator.wire_json.CODEC = migrator.wire_json.STANDARD
    print(f"wire JSON codec: {migrator.wire_json.CODEC.name}")
    expected = args.pages * args.page_items

    with CannedDynamoDB(args.pages, args.page_items, port=args.port or None) as server:
        print(f"canned DynamoDB at {server.endpoint}: {args.pages} pages of {args.page_items:,} items; "
              f"{pin(server.pid)}")
        copiers = {PLAIN: plain_copier(server.endpoint), BOTOCORE: migrator_copier(server.endpoint, False),
                   WIRE: migrator_copier(server.endpoint, True)}
        for copy in copiers.values():  # warm-up, untimed
            measure(copy, server, expected)
        results: dict[str, list[Measure]] = {name: [] for name in copiers}
        for round_no in range(1, args.rounds + 1):
            rows = {name: measure(copy, server, expected) for name, copy in copiers.items()}
            for name, m in rows.items():
                results[name].append(m)
            print(f"round {round_no}")
            print("\n".join(table(rows)))

    medians = {name: Measure(expected, statistics.median(m.cpu for m in ms), statistics.median(m.wall for m in ms),
                             statistics.median(m.server_cpu for m in ms)) for name, ms in results.items()}
    print(f"medians of {args.rounds} rounds")
    print("\n".join(table(medians)))
    per_cpu = {name: m.per_cpu for name, m in medians.items()}
    print(f"  migrator, botocore / plain boto3 : {per_cpu[BOTOCORE] / per_cpu[PLAIN]:.2f}x items per CPU-second")
    ratio = per_cpu[WIRE] / per_cpu[PLAIN]
    print(f"  wire JSON / migrator, botocore   : {per_cpu[WIRE] / per_cpu[BOTOCORE]:.2f}x")
    print(f"  wire JSON / plain boto3          : {ratio:.2f}x (target >= {TARGET_RATIO:.0f}x): "
          + ("target met" if ratio >= TARGET_RATIO else "target NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
