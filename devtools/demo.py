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
from .servers import CACHE, DynamoDBLocal, MongoWireServer, start_pair

TABLE = "demo_orders"


def main() -> int:
    parser = argparse.ArgumentParser(description="Run a demo migration between two local DynamoDB servers.")
    parser.add_argument("--items", type=int, default=20_000, help="generated items besides the all-types set")
    parser.add_argument("--rate", type=float, default=50.0, help="live write operations per second during the run")
    parser.add_argument("--target", choices=["dynamodb", "mongodb"], default="dynamodb",
                        help="migrate into a second DynamoDB Local (default) or a MongoDB-wire server")
    args = parser.parse_args()
    workdir = os.path.join(CACHE, "demo")
    os.makedirs(workdir, exist_ok=True)
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
        if args.target == "mongodb":
            before, after = mongo_views(datagen.scan_all(client, TABLE), target)
        else:
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


def mongo_views(items: list, target: MongoWireServer) -> tuple[dict, dict]:
    """Source items and the items the collection's documents stand for, keyed and compared by value."""
    from migrator.convert_bson import BsonPolicy, from_document, to_document

    policy = BsonPolicy(sets="tagged", on_overflow="string", ttl_attribute="expires", ttl_field="expireAt")
    # Numbers beyond Decimal128 are text in MongoDB: compare the source through the same mapping.
    expected = datagen.by_key(from_document(to_document(item, ["pk", "sk"], policy), policy) for item in items)
    got = datagen.by_key(from_document(d, policy) for d in target.client()["demo"][TABLE].find())
    return expected, got


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
