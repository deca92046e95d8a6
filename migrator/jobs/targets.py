"""Choosing, checking and preparing the target, whichever kind it is.

A plan holds two things per target: what will be done to it before copying (a ``TargetPlan`` for a
DynamoDB table, a ``CollectionPlan`` for a MongoDB collection; both have ``action``, ``problems``
and ``lines()``), and the picklable spec executors use to write (``DynamoDBTargetSpec``,
``MongoTargetSpec``; both have ``name``, ``describe()`` and ``writer()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..clients import ClientSpec
from ..config import MigratorConfig, MongoTarget
from ..sources.dynamodb.table import TableInfo, describe_table
from ..targets.dynamodb import DynamoDBTargetSpec
from ..targets.dynamodb_table import create_target_table, plan_target


@dataclass
class PlannedTarget:
    plan: Any          # TargetPlan | CollectionPlan
    spec: Any          # DynamoDBTargetSpec | MongoTargetSpec
    provisioned_wcu: int | None = None


def plan_for(config: MigratorConfig, source: TableInfo, key_names: list[str], resuming: bool,
             now: float | None = None) -> PlannedTarget:
    """Describe the target and decide what to do with it; changes nothing."""
    if isinstance(config.target, MongoTarget):
        return _plan_mongo(config, source, key_names, resuming, now)
    tgt = config.target
    client_spec = ClientSpec.from_config(tgt, max_connections=tgt.write_concurrency + 2)
    existing = describe_table(client_spec.dynamodb(), config.target_table, client_spec.describe())
    plan = plan_target(source, existing, config.target_table, config.rename_map, tgt.billing_mode,
                       tgt.write_throughput)
    wcu = existing.write_capacity if existing else plan.request.get("ProvisionedThroughput", {}).get("WriteCapacityUnits")
    spec = DynamoDBTargetSpec(client_spec, config.target_table, key_names, tgt.batch_size, tgt.write_concurrency,
                              request_capacity=tgt.remove_consumed_capacity is not True)
    return PlannedTarget(plan, spec, wcu)


def _plan_mongo(config: MigratorConfig, source: TableInfo, key_names: list[str], resuming: bool,
                now: float | None) -> PlannedTarget:
    from ..convert_bson import BsonPolicy
    from ..targets.mongodb import MongoTargetSpec
    from ..targets.mongodb_collection import plan_collection

    tgt = config.target
    renames = config.rename_map
    ttl = renames.get(source.ttl_attribute, source.ttl_attribute) if source.ttl_attribute else None
    policy = BsonPolicy(on_overflow=tgt.numbers.on_overflow, sets=tgt.sets, field_names=tgt.field_names,
                        ttl_attribute=ttl if tgt.ttl_field else None, ttl_field=tgt.ttl_field if ttl else None)
    spec = MongoTargetSpec(uri=tgt.uri, database=tgt.database, collection=config.target_table, key_names=key_names,
                           policy=policy, batch_size=tgt.batch_size, batch_bytes=tgt.batch_bytes,
                           concurrency=tgt.write_concurrency,
                           write_concern=tgt.write_concern.options() if tgt.write_concern else {},
                           redacted_uri=tgt.redacted_uri())
    client = spec.client()
    try:
        plan = plan_collection(client, tgt.database, config.target_table, tgt.exists, source, renames, policy,
                               resuming, now)
    finally:
        client.close()
    return PlannedTarget(plan, spec)


def prepare(config: MigratorConfig, planned: PlannedTarget) -> None:
    """Create (or drop, rename) the target as planned, with its indexes and TTL."""
    if isinstance(config.target, MongoTarget):
        from ..targets.mongodb_collection import prepare_collection

        client = planned.spec.client()
        try:
            prepare_collection(client, planned.plan)
        finally:
            client.close()
    elif planned.plan.action == "create":
        create_target_table(planned.spec.client_spec.dynamodb(), planned.plan,
                            tolerate_missing_ttl=config.target.is_alternator)
