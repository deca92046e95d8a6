"""Many tables in one run, through the CLI: selection by patterns, every table under live writes, a table that
is missing on purpose, SIGKILL and a rerun that resumes each table, both target kinds, schema only, and a
partial copy whose filter items move in and out of while the migration runs."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import time
import uuid

import pytest
import yaml

from devtools import datagen
from devtools.load import LoadGenerator
from migrator.conditions import parse_filter
from migrator.targets.mongodb.documents import BsonPolicy, from_document
from tests.conftest import eventually
from tests.integration.conftest import endpoint
from tests.integration.test_cli import end_background, kill_and_restart, run, start_background

CREDENTIALS = {"accessKey": "AKIATEST", "secretKey": "many-tables-secret"}
HALF = 500_000_000
#: The load writes v in [0, 1e9): a put moves an item in or out of this filter; an update keeps it.
FILTER = {"filterExpression": "v >= :half", "expressionAttributeValues": {":half": {"N": str(HALF)}}}
MATCHES = parse_filter(FILTER["filterExpression"], values=FILTER["expressionAttributeValues"]).matches
ITEMS = 1200


class Tables:
    """Five source tables of different shapes, and a name that no table has."""

    def __init__(self, ddb):
        self.ddb = ddb
        self.prefix = f"mt{uuid.uuid4().hex[:6]}"
        self.plain, self.gsi, self.ttl, self.streamed, self.skipped, self.missing = (
            f"{self.prefix}_{n}" for n in ("plain", "gsi", "ttl", "streamed", "skip", "missing"))
        client = ddb[0].client()
        expires = int(time.time()) + 86_400
        with_v = lambda items: [{**i, "v": {"N": str(random.Random(i["pk"]["S"]).randrange(10**9))}}  # noqa: E731
                                for i in items]
        datagen.create_table(client, self.plain, hash_only=True)
        datagen.put_items(client, self.plain, datagen.generate_items(ITEMS, seed=1, hash_only=True, sizes=(200,)))
        datagen.create_table(client, self.gsi, ExtraAttributes=[{"AttributeName": "name", "AttributeType": "S"}],
                             GlobalSecondaryIndexes=[{"IndexName": "by_name", "Projection": {"ProjectionType": "ALL"},
                                                      "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}]}])
        datagen.put_items(client, self.gsi, datagen.generate_items(ITEMS, seed=2, sizes=(200,)))
        datagen.create_table(client, self.ttl)
        client.update_time_to_live(TableName=self.ttl, TimeToLiveSpecification={"Enabled": True,
                                                                                 "AttributeName": "expires"})
        datagen.put_items(client, self.ttl, [{**i, "expires": {"N": str(expires)}}
                                             for i in datagen.generate_items(ITEMS, seed=3, sizes=(200,))])
        datagen.create_table(client, self.streamed, StreamSpecification={"StreamEnabled": True,
                                                                         "StreamViewType": "NEW_AND_OLD_IMAGES"})
        datagen.put_items(client, self.streamed, with_v(datagen.generate_items(ITEMS, seed=4, sizes=(200,))))
        datagen.create_table(client, self.skipped)
        self.copied = [self.gsi, self.plain, self.streamed, self.ttl]

    def loads(self, rate: float, seed: int) -> list[LoadGenerator]:
        client = self.ddb[0].client()
        return [LoadGenerator(client, table, keys=ITEMS + 200, rate=rate, seed=seed + n, hash_only=table == self.plain)
                for n, table in enumerate(self.copied)]

    def config(self, path, target: dict, savepoints, idle: float | None = 8, **extra) -> str:
        data = {
            "source": {"type": "dynamodb", "region": "us-east-1", "endpoint": endpoint(self.ddb[0]),
                       "credentials": CREDENTIALS},
            "target": {"streamChanges": True, **target},
            "tables": {"include": [f"{self.prefix}_*", self.missing], "exclude": [f"{self.prefix}_sk*"],
                       "overrides": {self.streamed: FILTER}},
            "savepoints": {"path": str(savepoints), "intervalSeconds": 1},
            "streaming": {"stopWhenIdleSeconds": idle} if idle else {},
            **extra,
        }
        path.write_text(yaml.safe_dump(data))
        return str(path)

    def expected(self, table: str) -> dict:
        items = datagen.scan_all(self.ddb[0].client(), table)
        keys = ("pk",) if table == self.plain else ("pk", "sk")
        return datagen.by_key([i for i in items if table != self.streamed or MATCHES(i)], keys)


def dynamodb_target(tables: Tables) -> dict:
    return {"type": "dynamodb", "region": "us-east-1", "endpoint": endpoint(tables.ddb[1]), "credentials": CREDENTIALS}


def assert_same(expected: dict, got: dict) -> int:
    missing, extra = expected.keys() - got.keys(), got.keys() - expected.keys()
    differ = [k for k in expected.keys() & got.keys() if expected[k] != got[k]]
    assert (len(missing), len(extra), len(differ)) == (0, 0, 0), (sorted(missing)[:3], sorted(extra)[:3], differ[:3])
    return len(expected)


def savepoints(folder) -> dict:
    found = {}
    for path in folder.glob("snapshot-*.json") if folder.exists() else []:
        data = json.loads(path.read_text())
        found[data["source_table"]] = (sum(s["items"] for s in data["segments"].values()), bool(data["completed_at"]))
    return found


def log_of(tmp_path) -> str:
    return (tmp_path / "first-run.log").read_text()


def phases(tmp_path) -> str:
    """The run's log without its batch lines: what each table was doing (for a failed wait)."""
    return "\n".join(line for line in log_of(tmp_path).splitlines()
                     if not re.search(r": batch \d+: ", line) and not line.startswith(("\t", "  ")))[-6000:]


@pytest.mark.slow
def test_many_tables_under_live_writes_survive_sigkill_and_reach_both_target_kinds(ddb, mongo, tmp_path):
    tables = Tables(ddb)
    target = ddb[1].client()
    sp = tmp_path / "sp"
    # A write cap slows each snapshot down (one at a time on two cores, beside the stream reads) so that the
    # kill lands with one table replicating and another one part-way through its snapshot.
    capped = tables.config(tmp_path / "capped.yaml", {**dynamodb_target(tables), "writeThroughput": 150}, sp)
    loads = tables.loads(rate=12, seed=10)
    for load in loads:
        load.start()
    proc, log = start_background(capped, tmp_path)
    try:
        def one_done_one_halfway():
            state = savepoints(sp)
            assert any(done for _, done in state.values()), (state, log_of(tmp_path)[-2000:])
            assert any(0 < items and not done for items, done in state.values()), state
            return state
        at_kill = eventually(one_done_one_halfway, timeout=240, interval=0.2)
        fast = tables.config(tmp_path / "fast.yaml", dynamodb_target(tables), sp)
        proc, log = kill_and_restart(proc, log, fast, tmp_path)

        def all_replicating():
            assert log_of(tmp_path).count(": replicating arn:") == 4, phases(tmp_path)
        eventually(all_replicating, timeout=420)
        ops = [load.stop() for load in loads]
        assert proc.wait(timeout=240) == 2, log_of(tmp_path)[-3000:]
    finally:
        end_background(proc, log)
        for load in loads:
            load.done.set()
    assert all(o["put"] > 20 and o["delete"] > 5 for o in ops)
    text = log_of(tmp_path)
    # The rerun resumed each table: the one part-way through copied only the rest, the done ones nothing.
    halfway = [t for t, (items, done) in at_kill.items() if items and not done]
    for table, (items, done) in at_kill.items():
        copied = re.search(rf"snapshot {table} -> {table}: done\n.*?\n  this run       : ([\d,]+) items", text, re.S)
        if done:
            assert f"snapshot {table}: every segment is already copied" in text
        elif table in halfway:
            assert copied and int(copied.group(1).replace(",", "")) <= ITEMS + 200 - items
    for table in tables.copied:
        keys = ("pk",) if table == tables.plain else ("pk", "sk")
        assert_same(tables.expected(table), datagen.by_key(datagen.scan_all(target, table), keys))
    assert tables.skipped not in target.list_tables()["TableNames"]
    gsi = target.describe_table(TableName=tables.gsi)["Table"]["GlobalSecondaryIndexes"]
    assert [g["IndexName"] for g in gsi] == ["by_name"]
    ttl = target.describe_time_to_live(TableName=tables.ttl)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    summary = text[text.rindex("tables: 5 selected"):]
    assert "tables: 5 selected, 4 done, 1 failed" in summary
    assert f"{tables.missing} -> {tables.missing}: FAILED: source table {tables.missing!r} not found" in summary
    assert "many-tables-secret" not in text
    # The filtered table counted what it scanned and what matched, and moved items in and out.
    assert re.search(rf"snapshot {tables.streamed} -> .*?filter         : [\d,]+ items scanned, [\d,]+ matched", text,
                     re.S)
    assert "not matching the filter" in text or "changes left an item outside source.filterExpression" in text

    # One validation of every table: four EQUAL (the filtered one on its matching items), the missing one failed.
    report = tmp_path / "report.json"
    done = run("validate", "--config", tables.config(tmp_path / "v.yaml", dynamodb_target(tables), sp),
               "--report", str(report))
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "validate: 5 tables: 4 EQUAL, 0 DIFFERENT, 1 failed" in done.stdout
    verdicts = {t["source"]: t["verdict"] for t in json.loads(report.read_text())["tables"]}
    assert verdicts == {**{t: "EQUAL" for t in tables.copied}, tables.missing: "FAILED"}

    # The same tables into MongoDB, under live writes again, in one run that SIGTERM ends once they converged.
    loads = tables.loads(rate=12, seed=20)
    for load in loads:
        load.start()
    into_mongo = tables.config(tmp_path / "mongo.yaml", {"type": "mongodb", "uri": mongo.uri, "database": "many",
                                                         "sets": "tagged"}, tmp_path / "sp-mongo", idle=None)
    (tmp_path / "first-run.log").unlink()
    proc, log = start_background(into_mongo, tmp_path)
    database = mongo.client()["many"]

    def converged():
        for table in tables.copied:
            keys = ("pk",) if table == tables.plain else ("pk", "sk")
            got = datagen.by_key((from_document(d, BsonPolicy(sets="tagged")) for d in database[table].find()), keys)
            assert_same(tables.expected(table), got)
    try:
        def replicating():
            assert log_of(tmp_path).count(": replicating arn:") == 4, phases(tmp_path)
        eventually(replicating, timeout=300)
        for load in loads:
            load.stop()
        eventually(converged, timeout=120, interval=1.0)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=120) == 143, log_of(tmp_path)[-3000:]
    finally:
        end_background(proc, log)
        for load in loads:
            load.done.set()
    text = log_of(tmp_path)
    assert "tables: 5 selected, 4 done, 1 failed" in text
    for table in tables.copied:
        assert f"-> many.{table} (mongodb://127.0.0.1" in text and f"replicate {table}: stopped (signal)" in text
    # Changes made during the snapshots came through each table's change log, then live replication.
    applied = re.findall(r"change log \S+: applied.*?\n  changes        : ([\d,]+) INSERT, ([\d,]+) MODIFY, "
                         r"([\d,]+) REMOVE", text, re.S)
    assert len(applied) == 4 and sum(int(n.replace(",", "")) for row in applied for n in row) > 0, text[-3000:]


def test_schema_only_creates_every_target_with_its_keys_indexes_and_ttl(ddb, tmp_path):
    tables = Tables(ddb)
    target = ddb[1].client()
    datagen.create_table(target, f"schema_{tables.plain}")  # pk + sk: the source's key is pk alone
    config = tables.config(tmp_path / "schema.yaml", {**dynamodb_target(tables), "streamChanges": False},
                           tmp_path / "sp", tables={"include": [f"{tables.prefix}_gsi", f"{tables.prefix}_t*",
                                                                f"{tables.prefix}_plain"],
                                                    "targetPrefix": "schema_"})
    planned = run("run", "--config", config, "--dry-run", env_extra={"SPARK_HOME": "/nonexistent"})
    assert planned.returncode == 2 and "dry run: nothing was written" in planned.stdout, planned.stdout[-3000:]
    assert "tables: 3 selected by tables.include/exclude; snapshots of 2 at once, 1 task each" in planned.stdout
    assert f"target table : will create schema_{tables.gsi}" in planned.stdout
    assert not [t for t in target.list_tables()["TableNames"] if t.startswith(f"schema_{tables.prefix}_g")]
    checked = run("check", "--config", config)
    assert checked.returncode == 1, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert "check: 3 tables, 1 with problems: those cannot start until they are fixed" in checked.stdout
    assert f"{tables.plain} -> schema_{tables.plain}: FAILED: plan: target table" in checked.stdout
    done = run("run", "--config", config, "--schema-only", env_extra={"SPARK_HOME": "/nonexistent"})
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    for table in (tables.gsi, tables.ttl):
        assert f"schema {table} -> schema_{table}: created (schemaOnly: nothing copied)" in done.stdout
        assert target.scan(TableName=f"schema_{table}", Select="COUNT")["Count"] == 0
    assert target.describe_table(TableName=f"schema_{tables.gsi}")["Table"]["GlobalSecondaryIndexes"][0]["IndexName"] \
        == "by_name"
    ttl = target.describe_time_to_live(TableName=f"schema_{tables.ttl}")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires"
    # An incompatible target fails its own table only; the others were created.
    summary = done.stdout[done.stdout.rindex("tables: 3 selected"):]
    assert "tables: 3 selected, 2 done, 1 failed" in summary
    assert re.search(rf"{tables.plain} -> schema_{tables.plain}: FAILED: .*key schema", summary), summary
    assert not list((tmp_path / "sp").glob("snapshot-*"))   # nothing to resume: nothing was copied
