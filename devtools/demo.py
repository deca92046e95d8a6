"""The demo behind ``./demo.sh``: a real zero-downtime migration between two local DynamoDB servers.

It starts two DynamoDB Local instances, creates a source table with a GSI, an LSI and TTL, loads
it with every attribute type and generated items of mixed sizes, starts a live write load on it,
and runs ``python -m migrator run`` as a user would: stream enabled and pinned, snapshot copied,
changes replicated. Once replication is running it stops the load; the migrator exits when it has
been idle a few seconds. Then ``migrator validate`` compares both sides in both directions, and the
servers are stopped. Both runs append their metrics to ``<workdir>/metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

from . import datagen
from .load import LoadGenerator
from .servers import CACHE, DynamoDBLocal, MongoWireServer, start_pair

TABLE = "demo_orders"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a demo migration between two local DynamoDB servers.")
    parser.add_argument("--items", type=int, default=20_000, help="generated items besides the all-types set")
    parser.add_argument("--rate", type=float, default=50.0, help="live write operations per second during the run")
    parser.add_argument("--target", choices=["dynamodb", "mongodb"], default="dynamodb",
                        help="migrate into a second DynamoDB Local (default) or a MongoDB-wire server")
    parser.add_argument("--workdir", default=os.path.join(CACHE, "demo"),
                        help="where the config, savepoints and metrics go (default .cache/demo)")
    args = parser.parse_args(argv)
    workdir = os.path.abspath(args.workdir)
    os.makedirs(workdir, exist_ok=True)
    metrics = os.path.join(workdir, "metrics.jsonl")
    if args.target == "mongodb":
        print("demo: starting DynamoDB Local (source) and a MongoDB-wire server (target)", flush=True)
        source, target = DynamoDBLocal().start(), MongoWireServer().start()
    else:
        print("demo: starting two DynamoDB Local servers (source and target)", flush=True)
        source, target = start_pair()
    try:
        client = source.client()
        datagen.create_table(
            client, TABLE,
            ExtraAttributes=[{"AttributeName": "name", "AttributeType": "S"}],
            GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["count"]}}],
            LocalSecondaryIndexes=[{"IndexName": "by-pk-name",
                                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                  {"AttributeName": "name", "KeyType": "RANGE"}],
                                    "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        )
        client.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
        items = datagen.all_types_items() + datagen.generate_items(args.items, seed=42)
        for n, item in enumerate(items[::10]):
            item["expires"] = {"N": str(int(time.time()) + 86_400 + n)}
        print(f"demo: loading {len(items):,} items into {TABLE} at {source.endpoint}", flush=True)
        datagen.put_items(client, TABLE, items)
        config = os.path.join(workdir, "config.yaml")
        with open(config, "w", encoding="utf-8") as f:
            target_section = (MONGO_TARGET.format(uri=target.uri) if args.target == "mongodb"
                              else DYNAMODB_TARGET.format(table=TABLE, target_port=target.port))
            f.write(DEMO_CONFIG.format(table=TABLE, source_port=source.port, target=target_section,
                                       savepoints=os.path.join(workdir, "savepoints")))
        # Fresh servers each time: a savepoint or metrics of an earlier demo would not apply.
        shutil.rmtree(os.path.join(workdir, "savepoints"), ignore_errors=True)
        if os.path.exists(metrics):
            os.remove(metrics)
        load = LoadGenerator(client, TABLE, keys=len(items), rate=args.rate, seed=43)
        print(f"demo: writing to the source at {args.rate:g} operations/s (puts, updates, deletes) from now on",
              flush=True)
        load.start()
        command = [sys.executable, "-m", "migrator", "run", "--config", config, "--stop-when-idle", "5",
                   "--metrics-file", metrics, "--progress-seconds", "1"]
        print(f"demo: running {' '.join(command[1:])}", flush=True)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        applied = 0
        for line in proc.stdout:
            sys.stdout.write(line)
            applied += "| INSERT |" in line  # a batch line: a micro-batch that applied changes
            if applied >= 6 and not load.done.is_set():
                ops = load.stop()
                print(f"demo: load stopped after {sum(ops.values()):,} operations {ops}; the migrator stops "
                      "once it has seen no change for 5 s", flush=True)
        status = proc.wait()
        load.done.set()
        if status != 0:
            print(f"demo: migrator exited with {status}", flush=True)
            return status
        command = [sys.executable, "-m", "migrator", "validate", "--config", config, "--metrics-file", metrics,
                   "--progress-seconds", "1", "--report", os.path.join(workdir, "validation-report.json")]
        print(f"demo: running {' '.join(command[1:])}", flush=True)
        status = subprocess.run(command).returncode
        print(f"demo: metrics of both runs in {metrics}", flush=True)
        return status
    finally:
        source.stop()
        target.stop()
        print("demo: servers stopped", flush=True)


DYNAMODB_TARGET = """\
  type: dynamodb
  table: {table}
  endpoint: {{host: http://127.0.0.1, port: {target_port}}}
  region: us-east-1
  credentials: {{accessKey: demo, secretKey: demo-secret}}"""

MONGO_TARGET = """\
  type: mongodb
  uri: {uri}
  database: demo
  exists: drop
  sets: tagged
  numbers: {{onOverflow: string}}
  ttlField: expireAt"""

DEMO_CONFIG = """\
# Written by devtools/demo.py: the source is a local DynamoDB server; so is the target, or a
# MongoDB-wire server (--target mongodb).
source:
  type: dynamodb
  table: {table}
  endpoint: {{host: 127.0.0.1, port: {source_port}}}
  region: us-east-1
  credentials: {{accessKey: demo, secretKey: demo-secret}}
target:
{target}
  streamChanges: true
savepoints:
  path: {savepoints}
  intervalSeconds: 5
renames: []
"""

if __name__ == "__main__":
    raise SystemExit(main())
