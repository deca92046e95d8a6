"""The target table request mirrors the source; an incompatible existing table is named."""

from __future__ import annotations

from migrator.sources.dynamodb.table import table_info
from migrator.targets.dynamodb.table import create_table_request, describe_request, key_problems, plan_target

DESCRIBED = {
    "TableName": "orders",
    "KeySchema": [{"AttributeName": "sk", "KeyType": "RANGE"}, {"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                             {"AttributeName": "email", "AttributeType": "S"}],
    "ProvisionedThroughput": {"ReadCapacityUnits": 50, "WriteCapacityUnits": 20, "NumberOfDecreasesToday": 0},
    "GlobalSecondaryIndexes": [{"IndexName": "by-email", "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name", "total"]},
                                "IndexStatus": "ACTIVE", "ItemCount": 3,
                                "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 6}}],
    "LocalSecondaryIndexes": [{"IndexName": "by-email-local", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                           {"AttributeName": "email", "KeyType": "RANGE"}],
                               "Projection": {"ProjectionType": "KEYS_ONLY"}, "IndexSizeBytes": 0}],
    "ItemCount": 1000, "TableSizeBytes": 2_000_000, "TableStatus": "ACTIVE",
}
TTL = {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}


def test_table_info_reads_a_description():
    info = table_info(DESCRIBED, TTL)
    assert info.key_schema == [("pk", "HASH"), ("sk", "RANGE")]
    assert info.billing_mode == "PROVISIONED" and (info.read_capacity, info.write_capacity) == (50, 20)
    assert info.ttl_attribute == "expires"
    assert info.average_item_bytes == 2000
    assert table_info({**DESCRIBED, "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"}}, {}).read_capacity is None


def test_request_copies_keys_indexes_projections_and_provisioned_capacity():
    request = create_table_request(table_info(DESCRIBED, TTL), "orders_copy", {})
    assert request["TableName"] == "orders_copy"
    assert request["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert request["BillingMode"] == "PROVISIONED"
    assert request["ProvisionedThroughput"] == {"ReadCapacityUnits": 50, "WriteCapacityUnits": 20}
    (gsi,) = request["GlobalSecondaryIndexes"]
    assert gsi == {"IndexName": "by-email", "KeySchema": [{"AttributeName": "email", "KeyType": "HASH"}],
                   "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["name", "total"]},
                   "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 6}}
    (lsi,) = request["LocalSecondaryIndexes"]
    assert lsi["Projection"] == {"ProjectionType": "KEYS_ONLY"} and "ProvisionedThroughput" not in lsi


def test_on_demand_override_drops_every_provisioned_throughput():
    request = create_table_request(table_info(DESCRIBED, TTL), "t_copy", {}, billing_mode="PAY_PER_REQUEST")
    assert request["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in request
    assert "ProvisionedThroughput" not in request["GlobalSecondaryIndexes"][0]


def test_write_throughput_sets_the_write_capacity_of_a_provisioned_target():
    request = create_table_request(table_info(DESCRIBED, TTL), "t_copy", {}, write_throughput=500)
    assert request["ProvisionedThroughput"]["WriteCapacityUnits"] == 500


def test_renames_reach_keys_indexes_projections_and_ttl():
    renames = {"pk": "id", "email": "mail", "name": "full_name", "expires": "ttl"}
    plan = plan_target(table_info(DESCRIBED, TTL), None, "t_copy", renames, None, None)
    request = plan.request
    assert request["KeySchema"][0]["AttributeName"] == "id"
    assert {a["AttributeName"] for a in request["AttributeDefinitions"]} == {"id", "sk", "mail"}
    gsi = request["GlobalSecondaryIndexes"][0]
    assert gsi["KeySchema"][0]["AttributeName"] == "mail"
    assert gsi["Projection"]["NonKeyAttributes"] == ["full_name", "total"]
    assert request["LocalSecondaryIndexes"][0]["KeySchema"][0]["AttributeName"] == "id"
    assert plan.ttl_attribute == "ttl"
    assert "GSI by-email (mail, INCLUDE)" in describe_request(request)


def test_existing_target_with_matching_keys_is_used():
    source = table_info(DESCRIBED, TTL)
    plan = plan_target(source, table_info(DESCRIBED, {}), "orders", {}, None, None)
    assert plan.action == "use" and plan.problems == []


def test_existing_target_with_other_keys_is_named_with_both_schemas():
    source = table_info(DESCRIBED, TTL)
    other = table_info({**DESCRIBED, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}, {})
    (problem,) = key_problems(source, other, {})
    assert problem.startswith("target table 'orders' exists with key schema [pk HASH (S)] but the source "
                              "(after renames) has [pk HASH (S), sk RANGE (N)]")
    wrong_type = table_info({**DESCRIBED, "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                                                    {"AttributeName": "sk", "AttributeType": "S"}]}, {})
    assert key_problems(source, wrong_type, {})
