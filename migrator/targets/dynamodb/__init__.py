"""A DynamoDB-compatible target (AWS DynamoDB, ScyllaDB Alternator): ``target.type`` dynamodb or alternator.

``table.py`` decides and creates the table, ``writer.py`` writes it with BatchWriteItem; the table is
read back (by the validator) with the same Scan as a DynamoDB source.
"""

from __future__ import annotations

from typing import Any

from ...clients import ClientSpec
from ...sources.dynamodb.scan import segment_groups
from ...sources.dynamodb.table import describe_table
from ...tables import TableInfo
from ...throttle import DEFAULT_WRITE_PERCENT, ThroughputCap, throughput_cap
from ..base import PlannedTarget
from .table import create_target_table, plan_target
from .writer import DynamoDBTargetSpec


class DynamoDBBackend:
    """Plans, prepares and caps a DynamoDB-compatible target table."""

    def plan(self, config: Any, source: TableInfo, key_names: list[str], resuming: bool,
             now: float | None = None) -> PlannedTarget:
        tgt = config.target
        client_spec = ClientSpec.from_config(tgt, max_connections=tgt.write_concurrency + 2)
        existing = describe_table(client_spec.dynamodb(), config.target_table, client_spec.describe())
        plan = plan_target(source, existing, config.target_table, config.rename_map, tgt.billing_mode,
                           tgt.write_throughput)
        wcu = (existing.write_capacity if existing
               else plan.request.get("ProvisionedThroughput", {}).get("WriteCapacityUnits"))
        spec = DynamoDBTargetSpec(client_spec, config.target_table, key_names, tgt.batch_size, tgt.write_concurrency,
                                  request_capacity=tgt.remove_consumed_capacity is not True)
        return PlannedTarget(plan, spec, wcu)

    def permissions(self, config: Any) -> list[Any]:
        from .preflight import permissions

        return permissions(config)

    def preflight(self, config: Any, source: TableInfo | None) -> list[Any]:
        from .preflight import preflight

        return preflight(config, source)

    def prepare(self, config: Any, planned: PlannedTarget) -> None:
        if planned.plan.action == "create":
            create_target_table(planned.spec.client_spec.dynamodb(), planned.plan,
                                tolerate_missing_ttl=config.target.is_alternator)

    def write_cap(self, config: Any, planned: PlannedTarget, tasks: int) -> ThroughputCap:
        return throughput_cap(config.target.write_throughput, planned.provisioned_wcu,
                              config.target.throughput_write_percent, DEFAULT_WRITE_PERCENT, tasks)

    def writes_line(self, config: Any) -> str:
        return (f"{config.target.batch_size} items per BatchWriteItem, "
                f"{config.target.write_concurrency} batches in flight per task")

    def read_partitions(self, config: Any, spec: DynamoDBTargetSpec, cores: int) -> tuple[list[Any], int]:
        info = describe_table(spec.client_spec.dynamodb(), spec.table, spec.client_spec.describe())
        return segment_groups(info.size_bytes, cores, config.source.scan_segments), info.item_count

    def finish(self, config: Any, planned: PlannedTarget, savepoint: Any) -> None:
        """Nothing more to write once the items are in."""


BACKEND = DynamoDBBackend()
