"""migrator validate against the real servers: equal, each kind of difference, fixes, MongoDB."""

from __future__ import annotations

import json
import time

from devtools import datagen
from migrator.jobs.validate import run_validation
from tests.integration.conftest import copy, make_config, mongo_config
from tests.integration.test_cli import run, write_config


def migrated(ddb, spark, table, items, **config):
    source, _ = ddb
    datagen.create_table(source.client(), table)
    datagen.put_items(source.client(), table, items)
    cfg = make_config(ddb, table, **config)
    copy(spark, cfg)
    return cfg


def test_equal_tables_pass_and_each_difference_is_found_and_named(ddb, spark, table_name):
    items = datagen.all_types_items() + datagen.generate_items(400, seed=101)
    config = migrated(ddb, spark, table_name, items)
    equal = run_validation(spark, config, cores=2)
    assert equal.remaining == 0 and equal.counts["keys"] == len(items) and equal.differences == []
    _, target = ddb
    t = target.client()
    k = lambda i: {"pk": items[i]["pk"], "sk": items[i]["sk"]}  # noqa: E731
    t.delete_item(TableName=table_name, Key=k(20))                                       # missing
    t.put_item(TableName=table_name, Item={"pk": {"S": "only-here"}, "sk": {"N": "0"}})  # extra
    t.update_item(TableName=table_name, Key=k(5), UpdateExpression="SET m.a.b = :v",     # nested change
                  ExpressionAttributeValues={":v": {"L": [{"N": "1"}]}})
    t.update_item(TableName=table_name, Key=k(4), UpdateExpression="ADD ss :x",          # set member
                  ExpressionAttributeValues={":x": {"SS": ["extra-member"]}})
    last_digit = datagen.EDGE_NUMBERS[0][:-1] + "9"                                      # 38 digits, last one
    t.update_item(TableName=table_name, Key=k(1), UpdateExpression="SET n0 = :n",
                  ExpressionAttributeValues={":n": {"N": last_digit}})
    result = run_validation(spark, config, cores=2)
    assert (result.counts["missing"], result.counts["extra"], result.counts["different"]) == (1, 1, 3)
    found = {(d["kind"], d["attribute"]) for d in result.differences}
    assert found == {("missing", None), ("extra", None), ("different", "m"), ("different", "ss"), ("different", "n0")}
    number = next(d for d in result.differences if d["attribute"] == "n0")
    assert number["source"] == {"N": datagen.EDGE_NUMBERS[0]} and number["target"] == {"N": last_digit}
    assert result.remaining == 5
    lines = "\n".join(result.lines(100))
    assert "DIFFERENT" in lines and "missing    : 1" in lines and "different  : 3" in lines


def test_copy_missing_rows_fixes_and_a_second_run_passes(ddb, spark, table_name):
    items = datagen.generate_items(300, seed=102)
    config = migrated(ddb, spark, table_name, items)
    _, target = ddb
    for item in items[:7]:
        target.client().delete_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    target.client().put_item(TableName=table_name, Item={**items[10], "name": {"S": "changed"}})
    fixing = make_config(ddb, table_name, validation={"copyMissingRows": True})
    first = run_validation(spark, fixing, cores=2)
    assert (first.counts["missing"], first.counts["different"], first.fixed) == (7, 1, 8)
    assert first.remaining == 0
    second = run_validation(spark, config, cores=2)
    assert second.remaining == 0 and second.counts["keys"] == 300


def test_expired_items_and_sampling(ddb, spark, table_name):
    source, target = ddb
    items = datagen.generate_items(400, seed=103)
    for i, item in enumerate(items[:5]):
        item["expires"] = {"N": str(int(time.time()) + 3600 + i)}
    datagen.create_table(source.client(), table_name)
    source.client().update_time_to_live(TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    datagen.put_items(source.client(), table_name, items)
    config = make_config(ddb, table_name)
    copy(spark, config)
    for item in items[:5]:  # gone from the target, as if DynamoDB had expired them there
        target.client().delete_item(TableName=table_name, Key={"pk": item["pk"], "sk": item["sk"]})
    later = time.time() + 2 * 3600
    assert run_validation(spark, config, cores=2, now=later).remaining == 0
    assert run_validation(spark, config, cores=2).counts["missing"] == 5
    sampled = run_validation(spark, make_config(ddb, table_name, validation={"sampleFraction": 0.3}), cores=2)
    assert 60 < sampled.counts["keys"] < 180


def test_mongodb_target_with_composite_keys(ddb, mongo, spark, table_name):
    source, _ = ddb
    items = datagen.all_types_items() + datagen.generate_items(200, seed=104)
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, items)
    config = mongo_config(ddb, mongo, table_name, database="validated", numbers={"onOverflow": "string"})
    copy(spark, config)
    equal = run_validation(spark, config, cores=2)
    assert equal.remaining == 0 and equal.counts["keys"] == len(items), equal.differences[:3]
    collection = mongo.client()["validated"][table_name]
    collection.update_one({"_id": {"pk": "item#00000003", "sk": 3}}, {"$set": {"name": "changed"}})
    collection.delete_one({"_id": {"pk": "item#00000004", "sk": 4}})
    result = run_validation(spark, config, cores=2)
    assert (result.counts["missing"], result.counts["different"], result.counts["extra"]) == (1, 1, 0)
    assert {d["attribute"] for d in result.differences if d["kind"] == "different"} == {"name"}


def test_cli_exit_codes_and_json_report(ddb, spark, table_name, tmp_path):
    items = datagen.generate_items(100, seed=105)
    migrated(ddb, spark, table_name, items)
    config = write_config(tmp_path / "c.yaml", ddb, table_name)
    report = tmp_path / "report.json"
    done = run("validate", "--config", config, "--report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "EQUAL" in done.stdout and json.loads(report.read_text())["remaining"] == 0
    _, target = ddb
    target.client().delete_item(TableName=table_name, Key={"pk": items[0]["pk"], "sk": items[0]["sk"]})
    done = run("validate", "--config", config, "--report", str(report))
    assert done.returncode == 1
    data = json.loads(report.read_text())
    assert data["counts"]["missing"] == 1 and data["differences"][0]["key"]["pk"] == items[0]["pk"]


def test_floating_point_tolerance_compares_whole_items(ddb, spark, table_name):
    items = [{"pk": {"S": f"k{i}"}, "sk": {"N": "1"}, "x": {"N": "1.0000"}} for i in range(30)]
    migrated(ddb, spark, table_name, items)
    _, target = ddb
    target.client().update_item(TableName=table_name, Key={"pk": {"S": "k1"}, "sk": {"N": "1"}},
                                UpdateExpression="SET x = :v", ExpressionAttributeValues={":v": {"N": "1.0004"}})
    target.client().update_item(TableName=table_name, Key={"pk": {"S": "k2"}, "sk": {"N": "1"}},
                                UpdateExpression="SET x = :v", ExpressionAttributeValues={":v": {"N": "1.01"}})
    exact = run_validation(spark, make_config(ddb, table_name), cores=2)
    assert exact.counts["different"] == 2
    tolerant = run_validation(spark, make_config(ddb, table_name, validation={"floatingPointTolerance": 0.001}), cores=2)
    assert tolerant.counts["different"] == 1
    (difference,) = tolerant.differences
    assert difference["attribute"] == "x" and difference["target"] == {"N": "1.01"}
