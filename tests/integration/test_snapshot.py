"""Snapshot copies between two DynamoDB Local servers, run in this process on local[2] Spark."""

from __future__ import annotations

import time

import pytest

from devtools import datagen
from migrator.deadletter import read_dead_letters
from migrator.errors import SavepointError
from migrator.savepoints import SavepointStore, SegmentState, savepoint_name
from tests.integration.conftest import copy, make_config


def assert_same_items(ddb, source_table, target_table, key_names=("pk", "sk"), renames=None):
    source, target = ddb
    expected = datagen.scan_all(source.client(), source_table)
    if renames:
        expected = [{renames.get(k, k): v for k, v in item.items()} for item in expected]
    names = [renames.get(k, k) if renames else k for k in key_names]
    before = datagen.by_key(expected, names)
    after = datagen.by_key(datagen.scan_all(target.client(), target_table), names)
    assert before.keys() == after.keys(), (
        f"missing {len(before.keys() - after.keys())}, extra {len(after.keys() - before.keys())}")
    differing = [k for k in before if before[k] != after[k]]
    assert differing == [], f"{len(differing)} items differ, first {differing[:1]}"
    return len(before)


def test_every_attribute_type_arrives_exactly_with_a_composite_key(ddb, spark, table_name):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.all_types_items() + datagen.generate_items(500, seed=5)
    datagen.put_items(source.client(), table_name, items)
    plan, result = copy(spark, make_config(ddb, table_name, source={"scanSegments": 3}))
    assert result.items == len(items) and result.total_segments == 3
    # The Spark UI names the job and its stage after the table.
    tracker = spark.sparkContext.statusTracker()
    (job_id,) = tracker.getJobIdsForGroup(f"snapshot-{table_name}")
    stage_names = [tracker.getStageInfo(s).name for s in tracker.getJobInfo(job_id).stageIds]
    assert stage_names == [f"snapshot {table_name}"]
    assert sum(result.per_segment.values()) == len(items)
    assert assert_same_items(ddb, table_name, table_name) == len(items)
    # Spot-check the values that break naive converters, as strings straight from the target.
    _, target = ddb
    got = target.client().get_item(TableName=table_name, Key={"pk": {"S": "types#001"}, "sk": {"N": "1"}})["Item"]
    from decimal import Decimal
    for i, number in enumerate(datagen.EDGE_NUMBERS):
        assert Decimal(got[f"n{i}"]["N"]) == Decimal(number)
    big = target.client().get_item(TableName=table_name, Key={"pk": {"S": "types#007"}, "sk": {"N": "7"}})["Item"]
    assert len(big["big"]["B"]) == 390 * 1024


def test_hash_only_key(ddb, spark, table_name):
    source, _ = ddb
    datagen.create_table(source.client(), table_name, hash_only=True)
    items = datagen.all_types_items(hash_only=True) + datagen.generate_items(300, hash_only=True)
    datagen.put_items(source.client(), table_name, items)
    _, result = copy(spark, make_config(ddb, table_name, target_table=f"{table_name}_copy"))
    assert result.items == len(items)
    assert assert_same_items(ddb, table_name, f"{table_name}_copy", key_names=["pk"]) == len(items)


def test_indexes_ttl_and_capacity_are_recreated(ddb, spark, table_name):
    source, target = ddb
    datagen.create_table(
        source.client(), table_name,
        ExtraAttributes=[{"AttributeName": "name", "AttributeType": "S"}, {"AttributeName": "count", "AttributeType": "N"}],
        BillingMode="PROVISIONED", ProvisionedThroughput={"ReadCapacityUnits": 400, "WriteCapacityUnits": 300},
        GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"},
                                                                       {"AttributeName": "count", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["payload"]},
                                 "ProvisionedThroughput": {"ReadCapacityUnits": 7, "WriteCapacityUnits": 8}}],
        LocalSecondaryIndexes=[{"IndexName": "by-count", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                       {"AttributeName": "count", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
    )
    source.client().update_time_to_live(TableName=table_name,
                                        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    datagen.put_items(source.client(), table_name, datagen.generate_items(200))
    plan, result = copy(spark, make_config(ddb, table_name))
    assert plan.read_cap.total == 200 and plan.write_cap.total == 300  # 0.5 x 400 RCU, 1.0 x 300 WCU
    described = target.client().describe_table(TableName=table_name)["Table"]
    assert described["ProvisionedThroughput"]["ReadCapacityUnits"] == 400
    (gsi,) = described["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "by-name"
    assert gsi["KeySchema"] == [{"AttributeName": "name", "KeyType": "HASH"}, {"AttributeName": "count", "KeyType": "RANGE"}]
    assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["payload"]}
    assert gsi["ProvisionedThroughput"]["WriteCapacityUnits"] == 8
    (lsi,) = described["LocalSecondaryIndexes"]
    assert lsi["IndexName"] == "by-count" and lsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    ttl = target.client().describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expires" and ttl["TimeToLiveStatus"] in ("ENABLED", "ENABLING")
    assert assert_same_items(ddb, table_name, table_name) == 200
    # The index answers on the target: the copy went through the index machinery too.
    name = datagen.generate_items(1)[0]["name"]["S"]
    assert target.client().query(TableName=table_name, IndexName="by-name", KeyConditionExpression="#n = :v",
                                 ExpressionAttributeNames={"#n": "name"},
                                 ExpressionAttributeValues={":v": {"S": name}})["Count"] >= 1


def test_renames_apply_to_items_keys_and_indexes(ddb, spark, table_name):
    source, target = ddb
    datagen.create_table(source.client(), table_name, ExtraAttributes=[{"AttributeName": "name", "AttributeType": "S"}],
                         GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                                                  "Projection": {"ProjectionType": "ALL"}}])
    datagen.put_items(source.client(), table_name, datagen.generate_items(150))
    renames = {"pk": "id", "name": "full_name", "payload": "body"}
    config = make_config(ddb, table_name, target_table=f"{table_name}_r",
                         renames=[{"from": k, "to": v} for k, v in renames.items()])
    copy(spark, config)
    described = target.client().describe_table(TableName=f"{table_name}_r")["Table"]
    assert described["KeySchema"][0]["AttributeName"] == "id"
    assert described["GlobalSecondaryIndexes"][0]["KeySchema"][0]["AttributeName"] == "full_name"
    assert assert_same_items(ddb, table_name, f"{table_name}_r", renames=renames) == 150


def test_items_whose_ttl_expired_are_skipped_and_counted(ddb, spark, table_name):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    now = time.time()
    items = datagen.generate_items(100)
    # Live at load time for the emulator (which enforces TTL), expired at the job's "now" for
    # 30 of them; 10 carry an expiry older than five years, which DynamoDB ignores: copied.
    for i, item in enumerate(items):
        if i < 30:
            item["expires"] = {"N": str(int(now) + 3600 + i)}
        elif i < 40:
            item["expires"] = {"N": str(int(now) - 6 * 365 * 86400)}
        else:
            item["expires"] = {"N": str(int(now) + 10 * 86400)}
    source.client().update_time_to_live(TableName=table_name,
                                        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    datagen.put_items(source.client(), table_name, items)
    _, result = copy(spark, make_config(ddb, table_name), now=now + 2 * 3600)
    assert result.skipped == 30 and result.items == 70
    _, target = ddb
    copied = datagen.scan_all(target.client(), table_name)
    assert len(copied) == 70
    assert all(int(i["expires"]["N"]) > now + 2 * 3600 or int(i["expires"]["N"]) < now - 5 * 365 * 86400
               for i in copied)


def test_refused_items_are_dead_lettered_and_the_rest_copied(ddb, spark, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.generate_items(60)
    for item in items[:3]:
        item["category"] = {"S": "not-a-number"}
    datagen.put_items(source.client(), table_name, items)
    # The target exists with the same key but an index whose key is a number: the three items
    # with a string there are refused by the target.
    datagen.create_table(target.client(), f"{table_name}_t", ExtraAttributes=[{"AttributeName": "category", "AttributeType": "N"}],
                         GlobalSecondaryIndexes=[{"IndexName": "by-category", "KeySchema": [{"AttributeName": "category", "KeyType": "HASH"}],
                                                  "Projection": {"ProjectionType": "KEYS_ONLY"}}])
    config = make_config(ddb, table_name, target_table=f"{table_name}_t", deadLetter={"path": str(tmp_path / "dl")})
    plan, result = copy(spark, config)
    assert plan.target.action == "use"
    assert result.dead_lettered == 3 and len(result.dead_letter_files) >= 1
    records = read_dead_letters(str(tmp_path / "dl"))
    assert sorted(r["key"]["pk"]["S"] for r in records) == sorted(i["pk"]["S"] for i in items[:3])
    assert all("category" in r["item"] and r["reason"] for r in records)
    assert len(datagen.scan_all(target.client(), f"{table_name}_t")) == 57


def test_resume_from_a_savepoint_copies_only_what_is_left(ddb, spark, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(400, seed=9))
    config = make_config(ddb, table_name, savepoints=str(tmp_path), source={"scanSegments": 4})
    # A first run that stopped: segment 0 done, segment 1 halfway (its first page written).
    first = source.client().scan(TableName=table_name, Segment=1, TotalSegments=4, Limit=20)
    seg0 = datagen.scan_all_segment(source.client(), table_name, 0, 4)
    datagen.create_table(target.client(), table_name)
    datagen.put_items(target.client(), table_name, seg0 + first["Items"])
    store = SavepointStore(str(tmp_path), savepoint_name(table_name, table_name))
    from migrator.convert import item_to_wire
    from migrator.savepoints import SnapshotSavepoint
    saved = SnapshotSavepoint(table_name, table_name, 4)
    saved.segments[0] = SegmentState(done=True, items=len(seg0))
    saved.segments[1] = SegmentState(last_key=item_to_wire(first["LastEvaluatedKey"]), items=20)
    store.save(saved)
    plan, result = copy(spark, make_config(ddb, table_name, savepoints=str(tmp_path), source={"scanSegments": 8}))
    assert plan.total_segments == 4  # pinned by the savepoint, whatever the configuration says
    assert plan.skipped_segments == {0}
    assert result.items == 400
    assert result.items_this_run == 400 - len(seg0) - 20
    assert store.load().complete
    assert assert_same_items(ddb, table_name, table_name) == 400
    # A rerun of a finished copy does nothing.
    _, again = copy(spark, config)
    assert again.items_this_run == 0 and again.items == 400


def test_skip_segments_from_a_scylla_savepoint(ddb, spark, table_name):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(200, seed=4))
    config = make_config(ddb, table_name, source={"scanSegments": 4}, skipSegments=[1, 3])
    plan, result = copy(spark, config)
    assert [s.segment for s in plan.segments] == [0, 2]
    expected = (datagen.scan_all_segment(source.client(), table_name, 0, 4)
                + datagen.scan_all_segment(source.client(), table_name, 2, 4))
    assert result.items == len(expected)
    assert len(datagen.scan_all(target.client(), table_name)) == len(expected)


def test_savepoint_of_a_dropped_target_is_refused(ddb, spark, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    store = SavepointStore(str(tmp_path), savepoint_name(table_name, table_name))
    from migrator.savepoints import SnapshotSavepoint
    saved = SnapshotSavepoint(table_name, table_name, 2)
    saved.segments[0] = SegmentState(done=True, items=10)
    store.save(saved)
    with pytest.raises(SavepointError, match="does not exist; move the savepoint away"):
        copy(spark, make_config(ddb, table_name, savepoints=str(tmp_path)))
