"""Describing a DynamoDB table (DescribeTable, DescribeTimeToLive) as a :class:`~migrator.tables.TableInfo`,
and enabling its stream.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ...clients import error_code
from ...errors import SourceError
from ...tables import TableInfo

log = logging.getLogger(__name__)


def describe_table(client: Any, name: str, where: str = "") -> TableInfo | None:
    """Describe table ``name``; None when it does not exist.

    Parameters
    ----------
    client
        A boto3 DynamoDB client.
    where : str
        Where the table lives, for error messages (endpoint or region).
    """
    try:
        table = client.describe_table(TableName=name)["Table"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise SourceError(f"cannot describe table {name!r} at {where or 'the endpoint'}: {exc}", name) from exc
    try:
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    except Exception as exc:
        if error_code(exc) not in ("UnknownOperationException", "ValidationException"):
            raise SourceError(f"cannot describe the TTL of table {name!r}: {exc}", name) from exc
        ttl = {}  # Older Alternator versions have no TTL API: no TTL then.
    return table_info(table, ttl)


def table_info(table: dict[str, Any], ttl: dict[str, Any]) -> TableInfo:
    """Build a :class:`TableInfo` from DescribeTable's ``Table`` and DescribeTimeToLive's answer."""
    billing = table.get("BillingModeSummary", {}).get("BillingMode")
    throughput = table.get("ProvisionedThroughput", {})
    rcu = throughput.get("ReadCapacityUnits") or None
    wcu = throughput.get("WriteCapacityUnits") or None
    if billing is None:
        billing = "PROVISIONED" if rcu or wcu else "PAY_PER_REQUEST"
    if billing == "PAY_PER_REQUEST":
        rcu = wcu = None
    keys = sorted(
        ((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]), key=lambda k: k[1] != "HASH"
    )
    gsis = [
        _index(i, with_throughput=billing == "PROVISIONED") for i in table.get("GlobalSecondaryIndexes", [])
    ]
    lsis = [_index(i, with_throughput=False) for i in table.get("LocalSecondaryIndexes", [])]
    ttl_status = ttl.get("TimeToLiveStatus")
    stream = table.get("StreamSpecification") or {}
    return TableInfo(
        name=table["TableName"],
        key_schema=keys,
        attribute_types={a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])},
        global_indexes=gsis,
        local_indexes=lsis,
        billing_mode=billing,
        read_capacity=rcu,
        write_capacity=wcu,
        item_count=int(table.get("ItemCount", 0) or 0),
        size_bytes=int(table.get("TableSizeBytes", 0) or 0),
        ttl_attribute=ttl.get("AttributeName") if ttl_status in ("ENABLED", "ENABLING") else None,
        status=table.get("TableStatus", "ACTIVE"),
        stream_arn=table.get("LatestStreamArn") if stream.get("StreamEnabled") else None,
        stream_view_type=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
    )


def _index(index: dict[str, Any], with_throughput: bool) -> dict[str, Any]:
    out = {
        "IndexName": index["IndexName"],
        "KeySchema": [dict(k) for k in index["KeySchema"]],
        "Projection": dict(index.get("Projection", {"ProjectionType": "ALL"})),
    }
    throughput = index.get("ProvisionedThroughput", {})
    if with_throughput and throughput.get("ReadCapacityUnits"):
        out["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput["ReadCapacityUnits"],
            "WriteCapacityUnits": throughput["WriteCapacityUnits"],
        }
    return out


#: Stream view types that carry the new item image, which replication needs.
IMAGE_VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")


def stream_problem(info: TableInfo) -> str | None:
    """Why the table's existing stream cannot feed replication, or None when it can (or is absent)."""
    if info.stream_arn is None or info.stream_view_type in IMAGE_VIEW_TYPES:
        return None
    return (f"source table {info.name!r} has a stream of view type {info.stream_view_type}, which does not "
            "carry the new item images replication needs; switch it to NEW_IMAGE or NEW_AND_OLD_IMAGES "
            "(a table's stream view type cannot be changed in place: disable the stream and enable it "
            "again with the new type, then rerun; changes made in between are covered by the snapshot)")


def enable_stream(client: Any, streams: Any, table: str, view_type: str,
                  sleep: Callable[[float], None] = time.sleep, timeout: float = 300.0) -> str:
    """Enable the table's stream, wait until it is ENABLED, and return its ARN.

    Parameters
    ----------
    client, streams
        boto3 ``dynamodb`` and ``dynamodbstreams`` clients for the source.
    """
    client.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, "StreamViewType": view_type})
    deadline = time.monotonic() + timeout
    while True:
        described = client.describe_table(TableName=table)["Table"]
        arn = described.get("LatestStreamArn")
        if arn and described.get("TableStatus") == "ACTIVE":
            status = streams.describe_stream(StreamArn=arn, Limit=1)["StreamDescription"]["StreamStatus"]
            if status == "ENABLED":
                return arn
        if time.monotonic() > deadline:
            raise SourceError(f"the stream of table {table!r} did not become ENABLED within {timeout:.0f} s", table)
        log.info("waiting for the stream of %s to become ENABLED", table)
        sleep(1.0)
