"""What ``migrator check`` tries on a DynamoDB source, and the IAM permissions the job needs of it.

Every probe reads, or asks for something invalid on purpose (see :mod:`migrator.preflight`): nothing on
the source changes, and no stream is enabled.
"""

from __future__ import annotations

from typing import Any

from ...clients import ClientSpec
from ...permissions import Permission, objects_arn, s3_permissions, table_arn
from ...preflight import Finding, Prober, credentials_finding

#: A stream label that no table has: probes the stream actions before the job enables the stream.
NO_STREAM = "stream/1970-01-01T00:00:00.000"


def permissions(config: Any) -> list[Permission]:
    source = config.source
    table = table_arn(source.region, source.table)
    settings = source.export_snapshot
    found = [Permission("dynamodb:DescribeTable", table, "describe the source"),
             Permission("dynamodb:DescribeTimeToLive", table, "the source's TTL, copied to the target"),
             Permission("dynamodb:Scan", table, "validate" if settings else "the snapshot; validate"),
             Permission("dynamodb:BatchGetItem", table, "validate: fetch the items that differ")]
    if settings is not None:
        found += [Permission(a, table, "source.exportSnapshot")
                  for a in ("dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups",
                            "dynamodb:ExportTableToPointInTime")]
        found.append(Permission("dynamodb:DescribeExport", f"{table}/export/*", "source.exportSnapshot"))
        where = f"s3://{settings.bucket}/{settings.prefix or ''}"
        found += s3_permissions(where, "source.exportSnapshot: DynamoDB writes the export, the job reads it")
        found.append(Permission("s3:AbortMultipartUpload", objects_arn(where),
                                "source.exportSnapshot: DynamoDB writes the export"))
    if config.target.stream_changes:
        found.append(Permission("dynamodb:UpdateTable", table, "enable the stream when it is off"))
        found += [Permission(a, f"{table}/stream/*", "replication")
                  for a in ("dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords")]
    return found


def preflight(config: Any) -> list[Finding]:
    source = config.source
    spec = ClientSpec.from_config(source)
    prober = Prober("source", spec.describe())
    credentials_finding(prober, spec)
    client = spec.dynamodb(retries=3)
    name = source.table
    missing = (f"source table {name!r} not found at {spec.describe()}; check source.table, source.region and "
               "source.endpoint")
    described = prober.probe("dynamodb:DescribeTable", name, lambda: client.describe_table(TableName=name),
                             on_missing=missing)
    if described is None:
        return prober.findings
    table = described["Table"]
    prober.probe("dynamodb:DescribeTimeToLive", name, lambda: client.describe_time_to_live(TableName=name))
    if source.export_snapshot is None:
        scanned = prober.probe("dynamodb:Scan", name, lambda: client.scan(TableName=name, Limit=1), "the snapshot")
        if scanned is not None and source.item_filter is not None:
            _filter_probe(prober, client, name, source.item_filter)
    else:
        _export_probes(prober, client, spec, name, source.export_snapshot)
    if config.target.stream_changes:
        _stream_probes(prober, client, spec.streams(retries=3), table)
    return prober.findings


def _filter_probe(prober: Prober, client: Any, name: str, item_filter: Any) -> None:
    """DynamoDB's own verdict on the filter (a reserved word, an operand of the wrong type...): one Scan of
    one item with it."""
    from ...preflight import error_code, error_message

    try:
        client.scan(TableName=name, Limit=1, **item_filter.scan_parameters())
    except Exception as exc:  # noqa: BLE001 - DynamoDB's refusal is the finding
        if error_code(exc) != "ValidationException":
            prober.warn(f"source.filterExpression: not checked ({error_code(exc) or type(exc).__name__}: "
                        f"{error_message(exc)[:200]})")
            return
        prober.problem(f"source.filterExpression: DynamoDB refuses it ({error_message(exc)}); use a #name "
                       "placeholder for a reserved word, and operands of the types the operator takes")
        return
    prober.ok(f"source.filterExpression: DynamoDB accepts it on {name}")


def _export_probes(prober: Prober, client: Any, spec: ClientSpec, name: str, settings: Any) -> None:
    from .export_snapshot import s3_spec

    backups = prober.probe("dynamodb:DescribeContinuousBackups", name,
                           lambda: client.describe_continuous_backups(TableName=name), "source.exportSnapshot")
    if backups is not None:
        status = (backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
                  .get("PointInTimeRecoveryStatus"))
        if status != "ENABLED":
            prober.warn(f"point-in-time recovery is {status or 'off'} on {name}: the job enables it "
                        "(dynamodb:UpdateContinuousBackups), which AWS bills by the table's size")
    s3 = s3_spec(settings, spec)
    prefix = settings.prefix or ""
    prober.probe("s3:ListBucket", f"s3://{settings.bucket}/{prefix}",
                 lambda: s3.client("s3", retries=3).list_objects_v2(Bucket=settings.bucket, Prefix=prefix, MaxKeys=1),
                 "source.exportSnapshot", on_missing=f"bucket {settings.bucket!r} not found (source.exportSnapshot)")
    prober.warn("not tried, as no call proves them without exporting: dynamodb:ExportTableToPointInTime, "
                "dynamodb:DescribeExport, and s3:PutObject of the export")


def _stream_probes(prober: Prober, client: Any, streams: Any, table: dict[str, Any]) -> None:
    name = table["TableName"]
    enabled = table.get("StreamSpecification", {}).get("StreamEnabled")
    arn = table.get("LatestStreamArn") if enabled else None
    if arn is None:
        prober.probe("dynamodb:UpdateTable", name, lambda: client.update_table(TableName=name),
                     "enable the stream, which is off")
        fake = f"{table['TableArn']}/{NO_STREAM}"
        prober.probe("dynamodb:DescribeStream", f"{name}/stream/*", lambda: streams.describe_stream(StreamArn=fake),
                     "replication")
        prober.probe("dynamodb:GetShardIterator", f"{name}/stream/*",
                     lambda: streams.get_shard_iterator(StreamArn=fake, ShardId="shardId-00000000000000000000-00000000",
                                                        ShardIteratorType="LATEST"), "replication")
        prober.warn("dynamodb:GetRecords is tried once the stream exists (run check again after the job enables it)")
        return
    label = arn.rsplit("/", 1)[-1]
    described = prober.probe("dynamodb:DescribeStream", f"{name}/stream/{label}",
                             lambda: streams.describe_stream(StreamArn=arn), "replication")
    if described is None:
        return
    stream = described["StreamDescription"]
    shards = stream.get("Shards", [])
    prober.ok(f"stream {label}: {stream.get('StreamStatus')}, {stream.get('StreamViewType')}, "
              f"{len(shards)}{'+' if stream.get('LastEvaluatedShardId') else ''} shard{'s' if len(shards) != 1 else ''}")
    if not shards:
        return
    iterator = prober.probe("dynamodb:GetShardIterator", f"{name}/stream/{label}",
                            lambda: streams.get_shard_iterator(StreamArn=arn, ShardId=shards[-1]["ShardId"],
                                                               ShardIteratorType="LATEST"), "replication")
    if iterator is not None:
        prober.probe("dynamodb:GetRecords", f"{name}/stream/{label}",
                     lambda: streams.get_records(ShardIterator=iterator["ShardIterator"], Limit=1), "replication")
