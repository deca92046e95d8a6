"""The demo behind ``./demo.sh``: a real zero-downtime migration between two local DynamoDB servers.

It starts two DynamoDB Local instances, creates a source table with a GSI, an LSI and TTL, loads
it with every attribute type and generated items of mixed sizes, starts a live write load on it,
and runs ``python -m migrator run`` as a user would: stream enabled and pinned, snapshot copied,
changes replicated. Once replication is running it stops the load; the migrator exits when it has
been idle a few seconds. Then both tables are compared item by item, and the servers stopped.
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
from .servers import CACHE, start_pair

TABLE = "demo_orders"


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a demo migration between two local DynamoDB servers.")
    parser.add_argument("--items", type=int, default=20_000, help="generated items besides the all-types set")
    parser.add_argument("--rate", type=float, default=50.0, help="live write operations per second during the run")
    args = parser.parse_args()
    workdir = os.path.join(CACHE, "demo")
    os.makedirs(workdir, exist_ok=True)
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
            f.write(DEMO_CONFIG.format(table=TABLE, source_port=source.port, target_port=target.port,
                                       savepoints=os.path.join(workdir, "savepoints")))
        # Fresh servers each time: a savepoint of an earlier demo would not apply.
        shutil.rmtree(os.path.join(workdir, "savepoints"), ignore_errors=True)
        load = LoadGenerator(client, TABLE, keys=len(items), rate=args.rate, seed=43)
        print(f"demo: writing to the source at {args.rate:g} operations/s (puts, updates, deletes) from now on",
              flush=True)
        load.start()
        command = [sys.executable, "-m", "migrator", "run", "--config", config, "--stop-when-idle", "5"]
        print(f"demo: running {' '.join(command[1:])}", flush=True)
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            sys.stdout.write(line)
            if "batch 5:" in line and not load.done.is_set():
                ops = load.stop()
                print(f"demo: load stopped after {sum(ops.values()):,} operations {ops}; the migrator stops "
                      "once it has seen no change for 5 s", flush=True)
        status = proc.wait()
        load.done.set()
        if status != 0:
            print(f"demo: migrator exited with {status}", flush=True)
            return status
        before = datagen.by_key(datagen.scan_all(client, TABLE))
        after = datagen.by_key(datagen.scan_all(target.client(), TABLE))
        missing = len(before.keys() - after.keys())
        extra = len(after.keys() - before.keys())
        differ = sum(1 for k in before.keys() & after.keys() if before[k] != after[k])
        print(f"demo: compared {len(before):,} source items with {len(after):,} target items: "
              f"{missing} missing, {extra} extra, {differ} different", flush=True)
        return 0 if missing == extra == differ == 0 else 1
    finally:
        source.stop()
        target.stop()
        print("demo: servers stopped", flush=True)


DEMO_CONFIG = """\
# Written by devtools/demo.py: the source and target are two local DynamoDB servers.
source:
  type: dynamodb
  table: {table}
  endpoint: {{host: 127.0.0.1, port: {source_port}}}
  region: us-east-1
  credentials: {{accessKey: demo, secretKey: demo-secret}}
target:
  type: dynamodb
  table: {table}
  endpoint: {{host: http://127.0.0.1, port: {target_port}}}
  region: us-east-1
  credentials: {{accessKey: demo, secretKey: demo-secret}}
  streamChanges: true
savepoints:
  path: {savepoints}
  intervalSeconds: 5
renames: []
"""

if __name__ == "__main__":
    raise SystemExit(main())
