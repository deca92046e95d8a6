"""Scylla Migrator's own DynamoDB scenarios, each from a configuration in its current layout.

The files under ``tests/configs/scylla`` are written as Scylla Migrator's test configurations are
(``type: alternator`` targets, its savepoints and validation sections, its hosts). Each test changes
only what must point here: endpoints (the two DynamoDB Local servers; the target one plays Alternator),
table names, the savepoints path, and for the streaming scenarios ``streaming.stopWhenIdleSeconds``
so that the run ends by itself.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import yaml

from devtools import datagen
from devtools.alternator_nodes import AlternatorNodes
from migrator.config import parse_config
from tests.conftest import eventually
from tests.integration.conftest import copy
from tests.integration.test_cli import run
from tests.integration.test_s3_paths import BUCKET, s3_server  # noqa: F401 - the fixture
from tests.integration.test_snapshot import assert_same_items
from tests.integration.test_streaming import assert_identical

SCYLLA = Path(__file__).parent.parent / "configs" / "scylla"


def scylla_layout(name: str, ddb, table: str, tmp_path, **changes) -> dict:
    """The configuration ``name`` with its endpoints, tables and savepoints pointed here."""
    data = yaml.safe_load((SCYLLA / name).read_text())
    source, target = ddb
    for side, server in (("source", source), ("target", target)):
        if data[side]["type"] == "dynamodb-s3-export":
            if side == "target":
                data[side]["path"] = str(tmp_path / "export")
            continue
        data[side]["endpoint"] = {"host": "http://127.0.0.1", "port": server.port}
        data[side]["table"] = table
    data["savepoints"]["path"] = str(tmp_path / "savepoints")
    data.update(changes)
    return data


def as_file(data: dict, tmp_path) -> str:
    path = tmp_path / "scylla.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_basic_runs_and_validates_from_the_cli(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.all_types_items() + datagen.generate_items(300, seed=131)
    datagen.put_items(source.client(), table_name, items)
    config = as_file(scylla_layout("basic.yaml", ddb, table_name, tmp_path), tmp_path)
    done = run("run", "--config", config)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert assert_same_items(ddb, table_name, table_name) == len(items)
    checked = run("validate", "--config", config)
    assert checked.returncode == 0, checked.stdout[-2000:] + checked.stderr[-2000:]
    assert f"validate {table_name} -> " in checked.stdout and ": EQUAL" in checked.stdout


def test_renames(ddb, spark, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(120, seed=132))
    copy(spark, parse_config(scylla_layout("renames.yaml", ddb, table_name, tmp_path)))
    assert assert_same_items(ddb, table_name, table_name, renames={"payload": "quux"}) == 120


def test_skipped_segments_in_two_parts(ddb, spark, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(300, seed=133))
    first = datagen.scan_all_segment(source.client(), table_name, 0, 3)
    plan, _ = copy(spark, parse_config(scylla_layout("part1.yaml", ddb, table_name, tmp_path)))
    assert [s.segment for s in plan.segments] == [0]
    assert len(datagen.scan_all(target.client(), table_name)) == len(first) > 0
    plan, _ = copy(spark, parse_config(scylla_layout("part2.yaml", ddb, table_name, tmp_path)))
    assert [s.segment for s in plan.segments] == [1, 2]
    assert assert_same_items(ddb, table_name, table_name) == 300


def test_ttl(ddb, spark, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    source.client().update_time_to_live(TableName=table_name,
                                        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    now = time.time()
    items = datagen.generate_items(50, seed=134)
    for i, item in enumerate(items[:10]):
        item["expires"] = {"N": str(int(now) + 3600 + i)}  # live for the emulator, expired at the job's "now"
    datagen.put_items(source.client(), table_name, items)
    _, result = copy(spark, parse_config(scylla_layout("ttl.yaml", ddb, table_name, tmp_path)), now=now + 7200)
    assert (result.items, result.skipped) == (40, 10)
    ttl = target.client().describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires"


def test_secondary_indexes_provisioned(ddb, spark, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(
        source.client(), table_name, ExtraAttributes=[{"AttributeName": "name", "AttributeType": "S"}],
        BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 50, "WriteCapacityUnits": 40},
        GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"},
                                 "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}],
        LocalSecondaryIndexes=[{"IndexName": "by-name-local", "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "name", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    datagen.put_items(source.client(), table_name, datagen.generate_items(80, seed=135))
    copy(spark, parse_config(scylla_layout("secondary-indexes.yaml", ddb, table_name, tmp_path)))
    described = target.client().describe_table(TableName=table_name)["Table"]
    assert described["ProvisionedThroughput"]["WriteCapacityUnits"] == 40  # billingMode: PROVISIONED, the source's
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["by-name"]
    assert [i["IndexName"] for i in described["LocalSecondaryIndexes"]] == ["by-name-local"]
    assert assert_same_items(ddb, table_name, table_name) == 80


def test_copy_missing_rows(ddb, spark, table_name, tmp_path):
    from migrator.jobs.validate import run_validation

    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.generate_items(200, seed=136)
    datagen.put_items(source.client(), table_name, items)
    config = parse_config(scylla_layout("copy-missing-rows.yaml", ddb, table_name, tmp_path))
    copy(spark, config)
    for item in items[:7]:
        target.client().delete_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    result = run_validation(spark, config, cores=2)
    assert (result.counts["missing"], result.fixed, result.remaining) == (7, 7, 0)
    assert assert_same_items(ddb, table_name, table_name) == 200


def test_max_map_tasks_on_both_sides_issue_103(ddb, spark, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(250, seed=137))
    plan, result = copy(spark, parse_config(scylla_layout("issue-103.yaml", ddb, table_name, tmp_path)))
    assert plan.total_segments == 10 and result.items == 250
    assert assert_same_items(ddb, table_name, table_name) == 250


def test_alternator_on_both_sides_with_client_settings(ddb, spark, table_name, tmp_path):
    """Each side is a pretend Alternator cluster: requests spread over the nodes its settings choose."""
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(300, seed=138))
    data = scylla_layout("alternator-settings.yaml", ddb, table_name, tmp_path)
    data["source"]["scanSegments"] = 4
    data["target"]["compression"] = True
    # The target's settings ask for datacenter dc1, rack rack1: nodes 1 and 2 of its cluster.
    target_layout = [("dc1", "rack1"), ("dc1", "rack1"), ("dc1", "rack2"), ("dc2", "rack1")]
    with AlternatorNodes(source.endpoint, [("dc1", "r1"), ("dc1", "r2"), ("dc2", "r1")]) as reads, \
            AlternatorNodes(target.endpoint, target_layout) as writes:
        for side, nodes in (("source", reads), ("target", writes)):
            data[side]["endpoint"] = {"host": "http://127.0.0.1", "port": nodes.port}
        plan, _ = copy(spark, parse_config(data))
    assert plan.source_spec.client_spec.max_connections == 12 and plan.writer_spec.client_spec.max_connections == 400
    assert assert_same_items(ddb, table_name, table_name) == 300
    # The source (no datacenter set) spreads over its seed's datacenter; nothing reaches dc2.
    assert set(reads.calls) == {"127.0.0.1", "127.0.0.2"} and min(reads.calls.values()) >= 2, reads.calls
    assert set(writes.calls) == {"127.0.0.1", "127.0.0.2"} and min(writes.calls.values()) >= 2, writes.calls
    assert writes.gzipped == sum(writes.calls.values()) and reads.gzipped == 0
    assert reads.wrong_host == writes.wrong_host == 0  # each request was signed for the node it reached
    assert writes.discoveries["127.0.0.1"] >= 1 and set(writes.discoveries) == {"127.0.0.1"}


def test_to_an_s3_export(ddb, spark, table_name, tmp_path):
    from tests.integration.test_export_target import export_items, local_reader

    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.all_types_items() + datagen.generate_items(70, seed=143))
    copy(spark, parse_config(scylla_layout("s3export.yaml", ddb, table_name, tmp_path)))
    _, exported = export_items(local_reader, str(tmp_path / "export"))
    assert datagen.by_key(exported) == datagen.by_key(datagen.scan_all(source.client(), table_name))


def test_from_an_s3_export(ddb, spark, table_name, tmp_path, s3_server):  # noqa: F811
    """The export in AWS's layout, put where the configuration's manifestKey says, into a provisioned table."""
    from tests.export_fixture import EXPECTED, EXPORT_ID, aws_export

    s3, env = s3_server
    _, target = ddb
    root = aws_export(str(tmp_path / "export"))
    data = scylla_layout("s3export-source.yaml", ddb, table_name, tmp_path)
    folder = data["source"]["manifestKey"].rsplit("/", 2)[0]
    export = Path(root, "AWSDynamoDB", EXPORT_ID)
    for path in export.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), BUCKET, f"{folder}/{table_name}/{path.relative_to(export)}")
    host, port = env["AWS_ENDPOINT_URL_S3"].rsplit(":", 1)
    data["source"].update(bucket=BUCKET, manifestKey=f"{folder}/{table_name}/manifest-summary.json",
                          endpoint={"host": host, "port": int(port)})
    copy(spark, parse_config(data))
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(EXPECTED)
    table = target.client().describe_table(TableName=table_name)["Table"]
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 25


def test_streaming(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.generate_items(150, seed=139)
    datagen.put_items(source.client(), table_name, items)
    config = as_file(scylla_layout("streaming.yaml", ddb, table_name, tmp_path,
                                   streaming={"stopWhenIdleSeconds": 6, "triggerSeconds": 1}), tmp_path)

    def change_once_copied():
        # Once the snapshot is in, the stream pinned before it carries these to the target.
        def copied():
            client = target.client()
            try:
                found = len(datagen.scan_all(client, table_name))
            except client.exceptions.ResourceNotFoundException:
                found = 0  # not created yet
            assert found == 150
        eventually(copied, timeout=180, interval=1.0)
        datagen.put_items(source.client(), table_name, datagen.generate_items(20, seed=140, start=500))
        for item in items[:5]:
            source.client().delete_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})

    done = run("run", "--config", config, timeout_hook=change_once_copied)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "stopped (idle for 6 s)" in done.stdout + done.stderr
    assert assert_identical(ddb, table_name) == 165


def test_streaming_without_the_snapshot(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(60, seed=141))
    source.client().update_table(TableName=table_name, StreamSpecification={
        "StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    changes = datagen.generate_items(25, seed=142, start=1000)
    datagen.put_items(source.client(), table_name, changes)
    config = as_file(scylla_layout("streaming-skip-snapshot.yaml", ddb, table_name, tmp_path,
                                   streaming={"stopWhenIdleSeconds": 5}), tmp_path)
    done = run("run", "--config", config)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(changes)


def test_every_scenario_file_is_run_here():
    tested = {"basic", "renames", "part1", "part2", "ttl", "secondary-indexes", "copy-missing-rows", "issue-103",
              "alternator-settings", "streaming", "streaming-skip-snapshot", "s3export", "s3export-source",
              "earlier-layout"}
    assert {os.path.splitext(n)[0] for n in os.listdir(SCYLLA)} == tested
