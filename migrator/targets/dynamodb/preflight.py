"""What ``migrator check`` tries on a DynamoDB target, and the IAM permissions the job needs of it.

The writes are probed with requests invalid on purpose (see :mod:`migrator.preflight`): a CreateTable
whose key attribute is not defined, a BatchWriteItem whose key is not the table's. AWS answers
AccessDeniedException to either when the action is not allowed, ValidationException when it is, and
writes nothing.
"""

from __future__ import annotations

from typing import Any

from ...clients import ClientSpec
from ...permissions import Permission, table_arn
from ...preflight import Finding, Prober, credentials_finding

#: An attribute name no table keys on, for the BatchWriteItem probe.
PROBE_KEY = "migrator-check-probe"


def permissions(config: Any) -> list[Permission]:
    table = table_arn(config.target.region, config.target_table)
    return [Permission("dynamodb:DescribeTable", table, "describe the target"),
            Permission("dynamodb:DescribeTimeToLive", table, "describe the target"),
            Permission("dynamodb:CreateTable", table, "create the target when it is missing"),
            Permission("dynamodb:UpdateTimeToLive", table, "the source's TTL on a created target"),
            Permission("dynamodb:BatchWriteItem", table, "the snapshot and replication (puts and deletes)"),
            Permission("dynamodb:Scan", table, "validate"),
            Permission("dynamodb:BatchGetItem", table, "validate: fetch the items that differ")]


def preflight(config: Any, source: Any) -> list[Finding]:
    """``source``: the source's TableInfo when it could be described (its TTL decides UpdateTimeToLive)."""
    spec = ClientSpec.from_config(config.target)
    prober = Prober("target", spec.describe())
    credentials_finding(prober, spec)
    client = spec.dynamodb(retries=3)
    name = config.target_table
    described = prober.probe("dynamodb:DescribeTable", name, lambda: client.describe_table(TableName=name))
    if prober.stopped:
        return prober.findings
    if prober.missing:  # the job creates it
        prober.probe("dynamodb:CreateTable", name, lambda: client.create_table(
            TableName=name, KeySchema=[{"AttributeName": PROBE_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": f"{PROBE_KEY}-undefined", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST"), "the target is missing: the job creates it")
        if source is not None and source.ttl_attribute:
            prober.probe("dynamodb:UpdateTimeToLive", name, lambda: client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": source.ttl_attribute}),
                "the source's TTL")
    else:
        prober.probe("dynamodb:DescribeTimeToLive", name, lambda: client.describe_time_to_live(TableName=name))
    prober.probe("dynamodb:BatchWriteItem", name, lambda: client.batch_write_item(
        RequestItems={name: [{"DeleteRequest": {"Key": {PROBE_KEY: {"S": "-"}}}}]}), "puts and deletes")
    return prober.findings
