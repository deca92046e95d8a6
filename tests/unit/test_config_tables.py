"""The ``tables`` section: which tables it selects, each table's own configuration, and its errors."""

from __future__ import annotations

import pytest

from migrator.config import parse_config
from migrator.config_tables import Tables, select
from migrator.errors import ConfigError
from migrator.jobs.many_tables import concurrency
from migrator.permissions import required


def many(tables, target=None, **top):
    data = {"source": {"type": "dynamodb", "region": "us-east-1", "endpoint": {"host": "localhost", "port": 8000}},
            "target": target or {"type": "dynamodb", "region": "eu-west-1", "streamChanges": True},
            "savepoints": {"path": "s3://bucket/run"}, "tables": tables, **top}
    return parse_config(data)


def problems(*args, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        many(*args, **kwargs)
    return caught.value.problems


LISTED = ["orders", "orders_tmp", "users_eu", "users_us", "audit", "Users_x"]


def test_include_exclude_and_names_that_must_exist():
    tables = Tables.model_validate({"include": ["orders*", "users_*", "ghost", "audit"], "exclude": ["*_tmp", "audit"],
                                    "targetPrefix": "new_", "overrides": {"users_eu": {"target": "eu_users"}}})
    chosen = select(tables, LISTED)
    assert chosen.pairs == [("orders", "new_orders"), ("users_eu", "eu_users"), ("users_us", "new_users_us")]
    assert chosen.missing == ["ghost"]   # audit is excluded by name, so it is not missing
    assert chosen.problems == []
    assert Tables.model_validate(["a_1", "b_2"]).include == ["a_1", "b_2"]   # a list is short for include


def test_overrides_that_match_nothing_and_colliding_targets_stop_the_run():
    tables = Tables.model_validate({"include": ["users_*", "orders"], "exclude": ["users_us"],
                                    "overrides": {"users_us": {"scanSegments": 2}, "audit": {"scanSegments": 2},
                                                  "nope": {"scanSegments": 2},
                                                  "users_eu": {"target": "orders"}}})
    found = select(tables, LISTED).problems
    assert "tables.overrides.users_us: 'users_us' is excluded; fix the name or remove the override" in found
    assert "tables.overrides.audit: 'audit' matches no include entry; fix the name or remove the override" in found
    assert "tables.overrides.nope: 'nope' is not a table of the source; fix the name or remove the override" in found
    assert ("tables: 'orders' and 'users_eu' would both be written to 'orders'; set tables.overrides.users_eu.target"
            in found)


def test_each_table_gets_its_own_configuration_and_folders():
    config = many({"include": ["orders", "users_*"], "targetSuffix": "_v2", "overrides": {
        "orders": {"target": "orders_new", "scanSegments": 8, "streamChanges": False, "writeThroughput": 100,
                   "renames": [{"from": "a", "to": "b"}], "filterExpression": "amount > :min",
                   "expressionAttributeValues": {":min": {"N": "10"}}}}},
        streaming={"checkpointLocation": "s3://bucket/cp"}, renames=[{"from": "x", "to": "y"}],
        validation={"reportPath": "s3://bucket/report.json"})
    orders = config.for_table("orders", "orders_new")
    assert (orders.source.table, orders.target_table, orders.source.scan_segments) == ("orders", "orders_new", 8)
    assert orders.target.stream_changes is False and orders.target.write_throughput == 100
    assert orders.rename_map == {"a": "b"} and orders.source.item_filter.expression == "amount > :min"
    assert orders.checkpoint_location == "s3://bucket/cp/orders-to-orders_new"
    assert orders.dead_letter_path == "s3://bucket/run/dead-letter/orders-to-orders_new"
    assert orders.validation.report_path is None     # one report for all the tables
    users = config.for_table("users_eu", "users_eu_v2")
    assert users.target.stream_changes is True and users.rename_map == {"x": "y"}
    assert users.source.item_filter is None and users.tables is None
    assert users.change_log_location == "s3://bucket/run/changelog/users_eu-to-users_eu_v2"


def test_a_mongodb_target_names_collections():
    config = many(["orders"], target={"type": "mongodb", "uri": "mongodb://u:secret@host/", "database": "shop"})
    assert config.for_table("orders", "orders").target.collection == "orders"
    found = problems({"include": ["orders"], "overrides": {"orders": {"writeThroughput": 5}}},
                     target={"type": "mongodb", "uri": "mongodb://host/", "database": "shop"})
    assert found[0].startswith("tables.overrides.orders: target.writeThroughput: unknown key")


def test_what_a_configuration_of_many_cannot_have():
    data = {"include": ["orders"]}
    found = problems(data, skipSegments=[1])
    assert found == ["skipSegments: segments are a table's own; with tables, remove skipSegments (a rerun resumes "
                     "each table from its savepoint)"]
    with pytest.raises(ConfigError, match="source.table: with tables, the source tables come from tables.include"):
        parse_config({"source": {"type": "dynamodb", "table": "orders"}, "target": {"type": "dynamodb", "table": "orders_copy"},
                      "tables": data})
    with pytest.raises(ConfigError, match="a dynamodb-s3-export target holds one table"):
        many(data, target={"type": "dynamodb-s3-export", "path": "/tmp/export"})
    # A rule of every table is said once, of the section; a bad override names its table.
    found = problems({"include": ["orders", "users"], "overrides": {"users": {"scanSegments": 4}}},
                     target={"type": "dynamodb", "region": "us-east-1", "endpoint": {"host": "localhost", "port": 8000}})
    assert found == ["tables: every table would be written onto itself (same endpoint, region and credentials); set "
                     "tables.targetPrefix or targetSuffix, target.endpoint or target.region"]
    found = problems({"include": ["orders"], "overrides": {"orders": {"filterExpression": "a = :v"}}})
    assert found == ["tables.overrides.orders: source.filterExpression: :v is not defined in "
                     "expressionAttributeValues"]


def test_cores_are_shared_out_and_one_is_kept_for_streams():
    assert concurrency(cores=2, wanted=4, tables=5, streams=True) == (1, 1)
    assert concurrency(cores=2, wanted=4, tables=5, streams=False) == (2, 1)
    assert concurrency(cores=16, wanted=4, tables=10, streams=True) == (4, 3)
    assert concurrency(cores=16, wanted=4, tables=2, streams=False) == (2, 8)
    assert concurrency(cores=1, wanted=4, tables=3, streams=True) == (1, 1)


def test_the_policy_covers_every_include_entry_with_its_glob():
    config = many({"include": ["orders", "users_[a-z]*"], "targetPrefix": "new_",
                   "overrides": {"orders": {"streamChanges": False}}})
    found = {(p.action, p.resource) for p in required(config)}
    assert ("dynamodb:ListTables", "*") in found
    assert ("dynamodb:Scan", "arn:aws:dynamodb:us-east-1:*:table/orders") in found
    assert ("dynamodb:BatchWriteItem", "arn:aws:dynamodb:eu-west-1:*:table/new_orders") in found
    assert ("dynamodb:GetRecords", "arn:aws:dynamodb:us-east-1:*:table/users_?*/stream/*") in found
    assert ("dynamodb:CreateTable", "arn:aws:dynamodb:eu-west-1:*:table/new_users_?*") in found
    assert not any(r.endswith("table/orders/stream/*") for _, r in found)   # orders does not stream
    assert not any("ANY_TABLE" in r for _, r in found)


def test_an_overrides_filter_replaces_the_sources_whole():
    data = {"source": {"type": "dynamodb", "region": "us-east-1", "filterExpression": "a = :x",
                       "expressionAttributeValues": {":x": {"S": "1"}}},
            "target": {"type": "dynamodb", "region": "eu-west-1"},
            "tables": {"include": ["orders", "users"], "overrides": {"orders": {"filterExpression": "attribute_exists(b)"}}}}
    config = parse_config(data)
    assert config.for_table("orders", "orders").source.item_filter.scan_parameters() == {
        "FilterExpression": "attribute_exists(b)"}
    assert config.for_table("users", "users").source.item_filter.expression == "a = :x"
