"""The YAML configuration: typed sections, every validation rule, redacted output.

A Scylla Migrator DynamoDB configuration loads unchanged: the keys keep their camelCase names
(``scanSegments``, ``throughputReadPercent``...). Keys that only make sense to Scylla Migrator's
JVM clients are accepted, and their descriptions start with ``WITHOUT_EFFECT_MARK``, so that the
reference and a warning tell a user they have no effect.

``load_config`` reads a file, checks every field and every cross-field rule, and raises one
:class:`~migrator.errors.ConfigError` listing all the problems found, before any Spark work.
"""

from __future__ import annotations

import typing
from typing import Any, Literal, Optional, Union
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError

from .config_base import (FilterSettings, Millis, Percent, PositiveInt, Rename, ScanSegments, Section,
                          TableName)
from .config_errors import describe_errors
from .config_mongo import DATABASE_NAME, MongoSource, redact_uri, uri_problems
from .config_tables import ANY_TABLE, Tables, any_table
from .errors import ConfigError
from .storage import reachable_from_python

#: DynamoDB's own limit on BatchWriteItem; Alternator allows up to 100 by default.
DYNAMODB_MAX_BATCH = 25
ALTERNATOR_MAX_BATCH = 100

class Endpoint(Section):
    """A custom endpoint (DynamoDB Local, Alternator, a VPC endpoint).

    ``host`` may carry the scheme (``http://scylla``), as Scylla Migrator's Alternator examples do;
    without one, ``https`` is used on port 443 and ``http`` elsewhere.
    """

    host: str = Field(min_length=1)
    """Host name, optionally with its scheme (``http://scylla``). Without a scheme, ``https`` is used on
    port 443 and ``http`` on any other port."""
    port: Optional[typing.Annotated[int, Field(gt=0, lt=65536)]] = None
    """TCP port. Left out: the port written in ``host``, else the scheme's default port."""

    def url(self) -> str:
        """The endpoint as a URL that botocore accepts."""
        parts = urlsplit(self.host if "://" in self.host else f"//{self.host}")
        scheme = parts.scheme or ("https" if self.port == 443 else "http")
        netloc = parts.hostname or ""
        port = self.port or parts.port
        if port:
            netloc = f"{netloc}:{port}"
        return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


class AssumeRole(Section):
    arn: str = Field(min_length=1)
    """ARN of the role to assume, from ``accessKey``/``secretKey`` or, without them, from the default AWS
    credential chain."""
    session_name: str = "migrator"
    """Session name of the assumed role, as CloudTrail shows it. Left out: ``migrator`` (Scylla Migrator's
    default is ``scylla-migrator``)."""


class Credentials(Section):
    """Static credentials, optionally used to assume a role.

    Without ``accessKey``/``secretKey`` the default AWS chain provides the base credentials
    (environment, profile, instance role) and ``assumeRole``, if given, is assumed from them.
    """

    access_key: Optional[str] = None
    """AWS access key id; give it with ``secretKey``. Without both, the default AWS credential chain is
    used (environment, profile, instance or task role)."""
    secret_key: Optional[SecretStr] = None
    """AWS secret access key; give it with ``accessKey``. Never logged, saved or shown in an error."""
    session_token: Optional[SecretStr] = None
    """Session token of temporary credentials. Left out: the keys are used without one. Never logged,
    saved or shown in an error."""
    assume_role: Optional[AssumeRole] = None
    """A role to assume, from the keys above or, without them, from the default AWS credential chain. Left
    out: no role is assumed."""


class AlternatorClient(Section):
    """Scylla Migrator's Alternator client settings. In its current layout they sit at the top of a
    ``type: alternator`` source or target; its earlier layout nests them under ``alternator:``, which is
    accepted too (a key at the top wins)."""

    datacenter: Optional[str] = None
    """The datacenter whose Alternator nodes get the requests: the client asks ``endpoint`` for the live
    nodes (``/localnodes?dc=``) and sends each request to the next one. Left out: the nodes of
    ``endpoint``'s own datacenter."""
    rack: Optional[str] = None
    """The rack, within ``datacenter``, whose nodes get the requests (``/localnodes?dc=&rack=``; a rack
    that lists none falls back to the datacenter). Needs ``datacenter``. Left out: the whole datacenter."""
    active_refresh_interval_ms: Optional[Millis] = None
    """How often (ms) the list of live nodes is fetched again while requests flow. Left out: 1000."""
    idle_refresh_interval_ms: Optional[Millis] = None
    """How often (ms) the list of live nodes is fetched again while no request goes out. Left out: 60000."""
    compression: Optional[bool] = None
    """Gzip every request body (``Content-Encoding: gzip``; an Alternator too old to accept it refuses the
    requests): less network for more CPU. Left out: false."""
    load_balancing: Optional[bool] = None
    """False sends every request to ``endpoint`` (a load balancer in front of Alternator, or node addresses
    the Spark workers cannot reach). Left out: true, requests spread over the live nodes."""
    optimize_headers: Optional[bool] = None
    """Scylla Migrator setting, accepted without effect: trimming of HTTP headers by its JVM client.
    migrator sends the headers botocore sends."""
    max_connections: Optional[PositiveInt] = None
    """HTTP connections each task's client keeps open at most. Left out: what the task's concurrency needs
    (``writeConcurrency`` + 2 for a target, 10 for a source)."""
    connection_max_idle_time_ms: Optional[Millis] = None
    """Scylla Migrator setting, accepted without effect: how long (ms) its JVM client keeps an idle pooled
    connection. botocore keeps pooled connections until the server closes them."""
    connection_time_to_live_ms: Optional[Millis] = None
    """Scylla Migrator setting, accepted without effect: the longest life (ms) of a connection in its JVM
    client's pool. botocore has no such limit."""
    connection_acquisition_timeout_ms: Optional[Millis] = None
    """Scylla Migrator setting, accepted without effect: how long (ms) its JVM client waits for a free
    connection. botocore's pool opens another connection instead of waiting."""
    connection_timeout_ms: Optional[PositiveInt] = None
    """TCP connect timeout (ms) of every request. Left out: 10 000."""


class AlternatorSettings(AlternatorClient):
    """Scylla Migrator's earlier ``alternator:`` section of a source or target: the client settings above,
    and ``maxItemsPerBatch``."""

    max_items_per_batch: Optional[typing.Annotated[int, Field(ge=1, le=ALTERNATOR_MAX_BATCH)]] = None
    """Items per BatchWriteItem, as ``target.maxItemsPerBatch`` (which wins when both are set): up to 100
    for Alternator. Left out: 25."""


#: How the description of a key that is accepted without effect starts (the reference marks them).
WITHOUT_EFFECT_MARK = "Scylla Migrator setting, accepted without effect"


def _without_effect(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(f.alias for f in model.model_fields.values()
                 if (f.description or "").startswith(WITHOUT_EFFECT_MARK))


#: Alternator client settings that only tune Scylla Migrator's JVM client: a configuration that sets
#: them loads, with a warning naming them.
WITHOUT_EFFECT = _without_effect(AlternatorClient)


class _DynamoDBEndpoint(Section):
    type: Literal["dynamodb", "dynamo", "alternator"]
    """``dynamodb`` (also ``dynamo``) or ``alternator`` (ScyllaDB Alternator). A ``dynamodb`` endpoint
    outside ``amazonaws.com`` is treated as Alternator (batches up to 100 items)."""
    region: Optional[str] = None
    """AWS region. Left out: the default AWS chain's (``AWS_REGION``, profile); ``us-east-1`` when an
    endpoint is set and nothing else says."""
    endpoint: Optional[Endpoint] = None
    """A custom endpoint (DynamoDB Local, Alternator, a VPC endpoint). Left out: AWS DynamoDB in
    ``region``."""
    credentials: Optional[Credentials] = None
    """Static keys, a role to assume, or both. Left out: the default AWS credential chain (environment,
    profile, instance or task role)."""
    alternator: Optional[AlternatorSettings] = None
    """Scylla Migrator's earlier layout of the Alternator client settings, nested (its current layout puts
    them at the top of the section; a key there wins). Left out: none."""
    botocore_calls: bool = False
    """``true``: Scan, Query, BatchWriteItem, BatchGetItem and GetRecords go through botocore's client,
    which converts every attribute of every item (the way back if the leaner path ever misbehaves).
    Left out: migrator sends them as plain JSON, signed and sent by botocore's own signer and HTTP session,
    at a fraction of the CPU (``docs/items-per-core.md``)."""

    def alternator_setting(self, name: str) -> Any:
        """An Alternator client setting (attribute name), from the top of the section or the nested block."""
        value = getattr(self, name)
        if value is None and self.alternator is not None:
            value = getattr(self.alternator, name)
        return value

    def settings_without_effect(self) -> list[str]:
        """The Alternator client settings given that have no effect here, by their keys."""
        given = self.model_dump(by_alias=True, exclude_none=True)
        given.update((k, v) for k, v in (given.pop("alternator", None) or {}).items() if k not in given)
        return [key for key in WITHOUT_EFFECT if key in given]

    @property
    def is_alternator(self) -> bool:
        """True for ScyllaDB Alternator: named so, or any non-AWS endpoint of type dynamodb."""
        if self.type == "alternator":
            return True
        if self.endpoint is None:
            return False
        host = urlsplit(self.endpoint.url()).hostname or ""
        return not host.endswith(".amazonaws.com")


class ExportSnapshot(Section):
    """``source.exportSnapshot``: take the snapshot from a DynamoDB export (``ExportTableToPointInTime``)
    instead of Scan, so that the copy uses no read capacity of the source table."""

    bucket: str = Field(min_length=1)
    """The S3 bucket DynamoDB writes the export to (the migration's identity needs ``s3:PutObject`` there,
    and ``s3:GetObject`` to read it back). Required."""
    prefix: Optional[str] = None
    """Key prefix of the export in ``bucket``. Left out: the bucket's root (``AWSDynamoDB/<export id>/``)."""
    bucket_owner: Optional[str] = None
    """The AWS account that owns ``bucket``, when it is another account's. Left out: the table's account."""
    poll_seconds: typing.Annotated[float, Field(gt=0)] = 30.0
    """Seconds between two looks at the export's status while DynamoDB writes it."""
    endpoint: Optional[Endpoint] = None
    """A custom S3 endpoint to read the export from. Left out: AWS S3 in ``region``."""
    region: Optional[str] = None
    """AWS region of the bucket. Left out: the source's ``region``."""
    credentials: Optional[Credentials] = None
    """Keys or a role for reading the export from S3. Left out: the source's ``credentials``."""
    use_path_style_access: Optional[bool] = None
    """``true``: address the bucket in the path (``http://host/bucket/key``). Left out: botocore's choice."""


class _DynamoDBSource(_DynamoDBEndpoint):
    """The keys of a DynamoDB source of its own (see :class:`DynamoDBSource`)."""

    table: Optional[TableName] = None
    """Name of the table to copy. Required, unless ``tables`` lists the tables of a migration of many."""
    scan_segments: Optional[ScanSegments] = None
    """Parallel Scan segments, each one Spark task. Left out: about one per 100 MiB of table and at least
    one per Spark core; a savepoint keeps its first run's count."""
    read_throughput: Optional[PositiveInt] = None
    """Read capacity units per second that the read cap is based on. Left out: the table's provisioned
    read capacity; no cap for an on-demand table."""
    throughput_read_percent: Optional[Percent] = None
    """Share of that read capacity the copy may use. Left out: 0.5, which leaves half to the applications
    still using the source."""
    max_map_tasks: Optional[PositiveInt] = None
    """Tasks assumed to run at once when the read and write caps are split between tasks. Left out: the
    smaller of the number of segments and the Spark cores."""
    remove_consumed_capacity: Optional[bool] = None
    """``true``: Scan requests do not ask for their consumed capacity (some Alternator versions refuse
    that); the read cap is then charged what DynamoDB would count, half a unit per started 4 KiB. Left out:
    asked."""
    streams_endpoint: Optional[Endpoint] = None
    """Where DynamoDB Streams calls go, when not to ``endpoint`` (a VPC endpoint for Streams, or the
    multi-shard stream simulator of the tests). Left out: ``endpoint``, else AWS's Streams endpoint of
    ``region``."""
    export_snapshot: Optional[ExportSnapshot] = None
    """Take the snapshot from a point-in-time export of the table to S3 rather than from Scan: no read
    capacity is used, the export takes its own time (minutes to hours), and point-in-time recovery is
    enabled on the table if it is off (it is billed by the table's size). With ``streamChanges`` the stream is
    pinned before the export time and every later change is applied. ``scanSegments`` has no effect then:
    each data file of the export is a segment. Left out: Scan."""


class _DynamoDBTarget(_DynamoDBEndpoint):
    """The keys of a DynamoDB-compatible target of its own (see :class:`DynamoDBTarget`)."""

    table: Optional[TableName] = None
    """Name of the target table; created when missing, with the source's keys, indexes, billing mode and
    TTL. Left out: the source table's name."""
    write_throughput: Optional[PositiveInt] = None
    """Write capacity units per second that the write cap is based on, and the write capacity of a created
    provisioned table. Left out: the target's provisioned write capacity; no cap for an on-demand table."""
    throughput_write_percent: Optional[Percent] = None
    """Share of that write capacity the copy may use. Left out: 1.0 (the target serves no application yet)."""
    billing_mode: Optional[Literal["PROVISIONED", "PAY_PER_REQUEST"]] = None
    """Billing mode of a created table. Left out: the source's; a provisioned target takes the source's
    capacity (1 where the source has none)."""
    remove_consumed_capacity: Optional[bool] = None
    """``true``: never ask the target for consumed capacity (some Alternator versions need this); write
    costs are then estimated from item sizes. Left out: asked only when a write cap is in force."""
    max_items_per_batch: Optional[typing.Annotated[int, Field(ge=1, le=ALTERNATOR_MAX_BATCH)]] = None
    """Items per BatchWriteItem: at most 25 for AWS DynamoDB, up to 100 for Alternator. Left out:
    ``alternator.maxItemsPerBatch``, else 25."""
    write_concurrency: typing.Annotated[int, Field(ge=1, le=64)] = 4
    """BatchWriteItem calls in flight per Spark task."""
    stream_changes: bool = False
    """Live replication: pin the source's DynamoDB Stream (enabling it if needed) before the snapshot,
    then apply every change until stopped. Needs ``savepoints.path`` or ``streaming.checkpointLocation``."""
    skip_initial_snapshot_transfer: bool = False
    """With ``streamChanges``: skip the snapshot and only replicate the stream's changes, from the oldest
    one it retains (up to 24 hours back). Ignored, with a warning, without ``streamChanges``."""
    max_map_tasks: Optional[PositiveInt] = None
    """Scylla Migrator setting, accepted without effect: its separate write tasks. Here the task that scans
    a segment writes it, so ``source.maxMapTasks`` decides how many run at once."""

    @property
    def batch_size(self) -> int:
        """Items per BatchWriteItem: ``maxItemsPerBatch`` (either place), else DynamoDB's 25."""
        if self.max_items_per_batch is not None:
            return self.max_items_per_batch
        if self.alternator is not None and self.alternator.max_items_per_batch is not None:
            return self.alternator.max_items_per_batch
        return DYNAMODB_MAX_BATCH


# The Alternator client settings come after a section's own keys (pydantic lists a later base's first).
class DynamoDBSource(AlternatorClient, FilterSettings, _DynamoDBSource):
    """``source``: the DynamoDB (or Alternator) table to copy."""


class DynamoDBTarget(AlternatorClient, _DynamoDBTarget):
    """``target``: a DynamoDB-compatible table (AWS DynamoDB, ScyllaDB Alternator)."""


class ExportAttribute(Section):
    name: str = Field(min_length=1)
    """Attribute name. Required."""
    type: Literal["S", "N", "B"]
    """Its type: ``S``, ``N`` or ``B``. Required."""


class ExportKey(Section):
    name: str = Field(min_length=1)
    """Attribute name, defined in ``attributeDefinitions``. Required."""
    type: Literal["HASH", "RANGE"]
    """``HASH`` (partition key) or ``RANGE`` (sort key). Required."""


class ExportThroughput(Section):
    read_capacity_units: PositiveInt
    """Read capacity of a created provisioned table. Required."""
    write_capacity_units: PositiveInt
    """Write capacity of a created provisioned table. Required."""


class ExportTableDescription(Section):
    """The exported table's keys and billing, as DynamoDB's ``TableCreationParameters`` has them."""

    attribute_definitions: list[ExportAttribute] = Field(min_length=1)
    """The key attributes and their types. Required."""
    key_schema: list[ExportKey] = Field(min_length=1, max_length=2)
    """The partition key, then the sort key if the table has one. Required."""
    billing_mode: Optional[Literal["PROVISIONED", "PAY_PER_REQUEST"]] = None
    """Billing mode of a created target table (unless ``target.billingMode`` says). Left out:
    ``PAY_PER_REQUEST``."""
    provisioned_throughput: Optional[ExportThroughput] = None
    """Capacity of a created provisioned target table. Left out: 1 read and 1 write unit (or
    ``target.writeThroughput``)."""


class DynamoDBS3ExportSource(FilterSettings):
    """``source`` with ``type: dynamodb-s3-export``: a DynamoDB table export (``ExportTableToPointInTime``)."""

    type: Literal["dynamodb-s3-export"]
    """``dynamodb-s3-export``: read a full export in DYNAMODB_JSON (or ION, with the ``ion`` extra), in AWS's
    layout or Scylla Migrator's (or this tool's ``dynamodb-s3-export`` target's)."""
    bucket: Optional[str] = None
    """The S3 bucket of the export. Left out: ``manifestKey`` is a local path (an export copied to disk)."""
    manifest_key: str = Field(min_length=1)
    """Key of the export's ``manifest-summary.json`` in ``bucket`` (``prefix/AWSDynamoDB/<export id>/
    manifest-summary.json``), or its local path without a bucket. Required."""
    table_description: ExportTableDescription
    """The exported table's keys and billing, which an export's data files do not carry; the target is
    created from it. Required."""
    endpoint: Optional[Endpoint] = None
    """A custom S3 endpoint (an S3-compatible store, LocalStack). Left out: AWS S3 in ``region``."""
    region: Optional[str] = None
    """AWS region of the bucket. Left out: the default AWS chain's; ``us-east-1`` with an endpoint."""
    credentials: Optional[Credentials] = None
    """Static keys, a role to assume, or both, for S3. Left out: the default AWS credential chain."""
    use_path_style_access: Optional[bool] = None
    """``true``: address the bucket in the path (``http://host/bucket/key``), as many S3-compatible stores
    need. Left out: botocore's choice."""

    #: What a DynamoDB source has and an export has not: the jobs read these from any source.
    scan_segments: typing.ClassVar[None] = None
    max_map_tasks: typing.ClassVar[None] = None
    is_alternator: typing.ClassVar[bool] = False

    @property
    def table(self) -> str:
        """A name for the export (savepoints, job names): the folder holding its summary."""
        folder = self.manifest_key.replace("\\", "/").rstrip("/").rpartition("/")[0]
        return folder.rpartition("/")[2] or self.bucket or "export"

    @property
    def manifest_path(self) -> str:
        """Where the summary is, for messages: ``s3://bucket/key`` or the local path."""
        return f"s3://{self.bucket}/{self.manifest_key}" if self.bucket else self.manifest_key


Source = typing.Annotated[Union[DynamoDBSource, DynamoDBS3ExportSource, MongoSource], Field(discriminator="type")]


class MongoWriteConcern(Section):
    """``target.writeConcern``: MongoDB's write concern for every write."""

    w: Optional[Union[int, str]] = None
    """Acknowledgement required: a number of members, ``majority`` or a tag. Left out: the URI's, else
    MongoDB's default (``majority`` on replica sets)."""
    j: Optional[bool] = None
    """``true``: acknowledged only once written to the journal. Left out: the URI's, else the server's
    default."""
    wtimeout_ms: Optional[PositiveInt] = None
    """Milliseconds to wait for the write concern; past that the batch is sent again. Left out: the URI's,
    else no limit."""

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.w is not None:
            out["w"] = self.w
        if self.j is not None:
            out["j"] = self.j
        if self.wtimeout_ms is not None:
            out["wtimeout"] = self.wtimeout_ms
        return out


class MongoNumbers(Section):
    """``target.numbers``: what to do with a number Decimal128 cannot hold (35 to 38 digits)."""

    on_overflow: Literal["error", "string", "tagged", "double"] = "error"
    """A number with 35 to 38 significant digits, more than Decimal128 holds: ``error`` (the item goes to
    the dead letter), ``string`` (kept exactly, as text, counted), ``tagged`` (kept exactly as
    ``{"__dynamodb_number__": "<text>"}``, counted, and a number again when a mongodb source migrates it back) or
    ``double`` (rounded: only if losing digits is acceptable)."""


class MongoTarget(Section):
    """``target`` with ``type: mongodb``: a MongoDB collection."""

    type: Literal["mongodb"]
    """``mongodb``: write documents into a MongoDB collection."""
    uri: SecretStr
    """MongoDB connection string, ``mongodb://`` or ``mongodb+srv://``, TLS and auth options included.
    Required; never printed (logs and plans show ``mongodb://***@host/...``)."""
    database: Optional[str] = Field(default=None, min_length=1, pattern=DATABASE_NAME)
    """Database name: no ``/``, ``\\``, ``.``, space, ``"`` or ``$``. Required, unless a mongodb source's ``tables``
    name each target as ``<database>.<collection>``."""
    collection: Optional[str] = Field(default=None, min_length=1, pattern=r"^[^$\x00]+$")
    """Collection name. Left out: the source table's name."""
    write_concern: Optional[MongoWriteConcern] = None
    """Write concern of every write. Left out: the URI's, else MongoDB's default."""
    exists: Literal["error", "drop", "rename", "append"] = "error"
    """When the collection holds documents at the start of a new migration: ``error`` (stop and say so),
    ``drop``, ``rename`` (kept as ``<collection>_<UTC timestamp>``) or ``append``. A rerun that resumes
    from a savepoint always keeps it."""
    numbers: MongoNumbers = Field(default_factory=MongoNumbers)
    """What to do with numbers that Decimal128 cannot hold. Left out: ``onOverflow: error``."""
    sets: Literal["array", "tagged"] = "array"
    """String, number and binary sets as plain arrays (``array``), or ``tagged`` (``{"__dynamodb_set__":
    "SS", "values": [...]}``) so that a migration back can restore them."""
    field_names: Literal["escape", "keep", "error"] = "escape"
    """Attribute names with ``.`` or a leading ``$``: ``escape`` (as U+FF0E / U+FF04, reversible),
    ``keep`` (as they are; MongoDB 5+ accepts all but a top-level ``$`` name) or ``error`` (the item goes
    to the dead letter)."""
    ttl_field: Optional[str] = Field(default=None, min_length=1)
    """With TTL on the source: also write the TTL attribute as a date in this field, with a TTL index on
    it. Left out: documents do not expire (the TTL attribute is copied as a number)."""
    batch_size: typing.Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Documents per bulk write, at most."""
    batch_bytes: typing.Annotated[int, Field(ge=1024, le=48 * 1024 * 1024)] = 8 * 1024 * 1024
    """Bytes per bulk write, at most (the default is 8 MiB)."""
    write_concurrency: typing.Annotated[int, Field(ge=1, le=64)] = 4
    """Bulk writes in flight per Spark task."""
    stream_changes: bool = False
    """Live replication, as for a DynamoDB target: pin the source's stream before the snapshot, then apply
    every change until stopped. Needs ``savepoints.path`` or ``streaming.checkpointLocation``."""
    skip_initial_snapshot_transfer: bool = False
    """With ``streamChanges``: skip the snapshot and only replicate the stream's changes, from the oldest
    one it retains (up to 24 hours back). Ignored, with a warning, without ``streamChanges``."""

    @property
    def is_alternator(self) -> bool:
        return False

    def redacted_uri(self) -> str:
        """The URI without user information, for logs and plans."""
        return redact_uri(self.uri)


class DynamoDBS3ExportTarget(Section):
    """``target`` with ``type: dynamodb-s3-export``: files in the layout of a DynamoDB table export."""

    type: Literal["dynamodb-s3-export"]
    """``dynamodb-s3-export``: write the table as DynamoDB's ``ExportTableToPointInTime`` does (gzipped
    DYNAMODB_JSON data files and their manifests), for DynamoDB's ImportTable or a
    ``dynamodb-s3-export`` source."""
    path: str = Field(min_length=1)
    """Folder of the export: a local directory or ``s3://bucket/prefix`` (boto3's default credentials,
    ``AWS_ENDPOINT_URL_S3`` for an S3-compatible store). It must not hold another export. Required."""

    #: An export is a snapshot: no stream is applied to it.
    stream_changes: typing.ClassVar[bool] = False
    skip_initial_snapshot_transfer: typing.ClassVar[bool] = False
    is_alternator: typing.ClassVar[bool] = False
    table: typing.ClassVar[None] = None


Target = typing.Annotated[Union[DynamoDBTarget, MongoTarget, DynamoDBS3ExportTarget], Field(discriminator="type")]


class Savepoints(Section):
    """``savepoints``: where progress is recorded so that a rerun resumes."""

    path: str = Field(min_length=1)
    """Directory (local or ``s3://``) of the savepoint file ``snapshot-<source>-to-<target>.json``: per
    segment, whether it is done and the last key copied. Required in this section."""
    interval_seconds: PositiveInt = 300
    """Seconds between savepoint writes; one is also written on failure, Ctrl-C and SIGTERM."""
    enable_parquet_file_tracking: Optional[bool] = None
    """Scylla Migrator setting, accepted without effect: it tracks Parquet source files, and the source
    here is always a DynamoDB table."""
    resume_from_latest: Optional[bool] = None
    """Scylla Migrator setting, accepted without effect: a rerun here always resumes from the savepoint
    of the same source and target."""


class Validation(Section):
    """``validation``: settings of ``migrator validate``, in Scylla Migrator's names where they exist.

    ``compareTimestamps``, ``ttlToleranceMillis``, ``writetimeToleranceMillis``,
    ``timestampMsTolerance`` and ``hashColumns`` concern Cassandra-like sources: accepted, unused.
    """

    compare_timestamps: Optional[bool] = None
    """Scylla Migrator setting, accepted without effect: it compares Cassandra WRITETIMEs and TTLs, which
    DynamoDB items do not have."""
    ttl_tolerance_millis: Optional[int] = None
    """Scylla Migrator setting, accepted without effect: the allowed difference between Cassandra TTLs, which
    DynamoDB items do not have (a TTL attribute compares as any other)."""
    writetime_tolerance_millis: Optional[int] = None
    """Scylla Migrator setting, accepted without effect: the allowed difference between Cassandra WRITETIMEs,
    which DynamoDB items do not have."""
    failures_to_fetch: typing.Annotated[int, Field(ge=0)] = 100
    """How many differences to list in the output and the report."""
    floating_point_tolerance: typing.Annotated[float, Field(ge=0)] = 0.0
    """Numbers within this distance compare equal. The default, 0, is exact comparison (DynamoDB numbers
    are exact)."""
    timestamp_ms_tolerance: Optional[int] = None
    """Scylla Migrator setting, accepted without effect: the allowed difference (ms) between Cassandra
    timestamp columns; DynamoDB has no timestamp type."""
    hash_columns: Optional[list[str]] = None
    """Scylla Migrator setting, accepted without effect: columns compared through one hash in
    MySQL-to-ScyllaDB validation. migrator compares whole items."""
    copy_missing_rows: bool = False
    """Write the missing and differing items to the target, then report how many were fixed; extra items
    are only reported."""
    sample_fraction: Optional[typing.Annotated[float, Field(gt=0, le=1)]] = None
    """Compare only this share of the keys, chosen by a hash of the key so that both sides agree. Left
    out: every key."""
    report_path: Optional[str] = Field(default=None, min_length=1)
    """Where to write the JSON report (counts and the listed differences); also ``--report PATH``. Left
    out: no report file."""


class Streaming(Section):
    """``streaming``: live replication through DynamoDB Streams (with ``target.streamChanges``)."""

    view_type: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"] = "NEW_IMAGE"
    """Stream view type when migrator enables the stream. An existing stream is used when it carries new
    images; ``KEYS_ONLY`` and ``OLD_IMAGE`` streams are refused before any write."""
    checkpoint_location: Optional[str] = Field(default=None, min_length=1)
    """Spark's checkpoint directory (a local or shared path, or S3); a rerun resumes from it. The stream
    source records each micro-batch's shard positions in it (``positions/``), written by the executors.
    Left out: ``<savepoints.path>/checkpoints/<source>-to-<target>``."""
    trigger_seconds: typing.Annotated[float, Field(gt=0, le=3600)] = 1.0
    """Seconds between micro-batches."""
    max_records_per_batch: PositiveInt = 10_000
    """Stream records per micro-batch, at most (admission control)."""
    stop_when_idle_seconds: Optional[typing.Annotated[float, Field(gt=0)]] = None
    """Stop with exit code 0 once caught up and idle this many seconds (also ``--stop-when-idle``). Left
    out: run until stopped (SIGTERM or Ctrl-C, after the batch in flight)."""
    change_log: bool = True
    """While the snapshot runs, capture the stream into a change log (Parquet files), applied once the
    snapshot is done: the stream's 24-hour retention then bounds only the capture's own downtime, not the
    snapshot. Takes one core from the snapshot. ``false``: replication reads the stream only after the
    snapshot, which must then finish within 23 h 45 min of the pin."""
    change_log_path: Optional[str] = Field(default=None, min_length=1)
    """Where the change log is written (a local or shared path, ``s3a://`` or ``hdfs://``; Spark writes it,
    and an ``s3://`` path through ``s3a://``). Left out: ``<savepoints.path>/changelog/<source>-to-<target>``, else
    ``<checkpointLocation>/changelog``. Deleted once applied."""


class DeadLetter(Section):
    """``deadLetter``: where items that cannot be written are kept (JSON lines)."""

    path: str = Field(min_length=1)
    """Directory (local or ``s3://``) where items the target refuses are written as JSON lines, with their
    key, the reason and the raw item. Required in this section."""


class Metrics(Section):
    """``metrics``: figures to scrape or graph, beside the console progress (see docs/metrics.md)."""

    path: Optional[str] = Field(default=None, min_length=1)
    """JSON-lines file that a metrics record is appended to every ``intervalSeconds``. Left out: no file."""
    prometheus_port: Optional[typing.Annotated[int, Field(gt=0, lt=65536)]] = None
    """Serve the metrics in Prometheus text format on this port, at ``/metrics``. Left out: no endpoint."""
    interval_seconds: typing.Annotated[float, Field(gt=0, le=3600)] = 5.0
    """Seconds between metric records, and between progress lines."""


class MigratorConfig(Section):
    """The whole configuration file."""

    source: Source
    """What to copy: a DynamoDB or Alternator table (``type: dynamodb`` or ``alternator``), a DynamoDB
    table export (``type: dynamodb-s3-export``) or a MongoDB collection (``type: mongodb``). Required."""
    target: Target
    """Where the items go: a DynamoDB-compatible table (``type: dynamodb`` or ``alternator``), a MongoDB
    collection (``type: mongodb``) or files in the layout of a DynamoDB export (``type: dynamodb-s3-export``).
    Required."""
    savepoints: Optional[Savepoints] = None
    """Where progress is recorded so that a rerun resumes. Left out: no savepoint; a rerun starts over."""
    renames: list[Rename] = Field(default_factory=list)
    """Attribute renames, applied to every item and to the key schema and indexes of a created target.
    Left out: none."""
    skip_segments: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None
    """Scan segments to skip (numbered from 0), as a Scylla Migrator savepoint lists them; needs
    ``source.scanSegments``, the count it was made with. Left out: none."""
    skip_token_ranges: Optional[list[Any]] = None
    """Scylla Migrator setting, accepted without effect: token ranges of a Cassandra source's savepoint; a
    DynamoDB source has none (a warning says so)."""
    validation: Optional[Validation] = None
    """Settings of ``migrator validate``. Left out: the defaults below."""
    dead_letter: Optional[DeadLetter] = None
    """Where items the target refuses are kept. Left out: ``<savepoints.path>/dead-letter``; without
    savepoints either, a refused item stops the job."""
    streaming: Streaming = Field(default_factory=Streaming)
    """Tuning of live replication (``target.streamChanges``). Left out: the defaults below."""
    metrics: Metrics = Field(default_factory=Metrics)
    """Metrics beside the console progress: a JSON-lines file, a Prometheus endpoint, or both. Left out:
    console progress only."""
    tables: Optional[Tables] = None
    """Many tables in one migration: names and glob patterns of source tables, target names, per-table
    settings. Each table gets its own savepoint, stream checkpoint, change log and dead-letter folder; a table
    that fails does not stop the others. Left out: the one table of ``source.table``."""
    schema_only: bool = False
    """Create the target tables or collections (keys, indexes, TTL) and copy nothing: no snapshot, no stream
    (also ``migrator run --schema-only``)."""

    #: The parsed YAML the configuration came from: each table of ``tables`` is configured from it.
    _data: dict = PrivateAttr(default_factory=dict)

    def with_schema_only(self) -> "MigratorConfig":
        """This configuration with ``schemaOnly: true`` (``migrator run --schema-only``)."""
        return parse_config({**self._data, "schemaOnly": True})

    def for_table(self, source_table: str, target: str) -> "MigratorConfig":
        """The configuration of one table of ``tables``, as if it had a file of its own.

        Raises
        ------
        ConfigError
            When that table's settings break a rule (an override that does not fit the target...).
        """
        from .config_tables import table_data

        try:
            return parse_config(table_data(self._data, source_table, target))
        except ConfigError as exc:
            raise ConfigError([f"tables: table {source_table}: {p}" for p in exc.problems]) from None

    @property
    def target_table(self) -> str:
        """The target table (or collection) name: ``target.table`` / ``target.collection``, else
        the source table's."""
        default = getattr(self.source, "default_target", None) or self.source.table
        if isinstance(self.target, MongoTarget):
            return self.target.collection or default
        return self.target.table or default

    @property
    def to_mongodb(self) -> bool:
        return isinstance(self.target, MongoTarget)

    @property
    def rename_map(self) -> dict[str, str]:
        return {r.from_: r.to for r in self.renames}

    @property
    def checkpoint_location(self) -> str | None:
        """Spark's streaming checkpoint: ``streaming.checkpointLocation``, else under ``savepoints.path``."""
        if self.streaming.checkpoint_location:
            return self.streaming.checkpoint_location
        if self.savepoints is not None:
            return f"{self.savepoints.path.rstrip('/')}/checkpoints/{self.source.table}-to-{self.target_table}"
        return None

    @property
    def change_log_location(self) -> str | None:
        """Where the capture writes the change log: ``streaming.changeLogPath``, else under
        ``savepoints.path``, else inside the checkpoint."""
        if self.streaming.change_log_path:
            return self.streaming.change_log_path
        if self.savepoints is not None:
            return f"{self.savepoints.path.rstrip('/')}/changelog/{self.source.table}-to-{self.target_table}"
        checkpoint = self.checkpoint_location
        return f"{checkpoint.rstrip('/')}/changelog" if checkpoint else None

    @property
    def dead_letter_path(self) -> str | None:
        """``deadLetter.path``, else ``<savepoints.path>/dead-letter``, else None (fail instead)."""
        if self.dead_letter is not None:
            return self.dead_letter.path
        if self.savepoints is not None:
            return self.savepoints.path.rstrip("/") + "/dead-letter"
        return None


def load_config(path: str) -> MigratorConfig:
    """Read and validate a YAML configuration file.

    Parameters
    ----------
    path : str
        A local path, or an ``s3://`` (``s3a://``) URL read with the default AWS credentials.

    Returns
    -------
    MigratorConfig

    Raises
    ------
    ConfigError
        When the file cannot be read or parsed, or any setting is invalid; the error lists
        every problem found.
    """
    from .storage import read_text

    try:
        text = read_text(path)
    except FileNotFoundError as exc:
        raise ConfigError(["cannot read the file: no such file"], path) from exc
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror or exc}"], path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"not valid YAML{where}: {reason}"], path) from exc
    return parse_config(data, path)


def parse_config(data: Any, path: str | None = None) -> MigratorConfig:
    """Validate an already parsed YAML tree; see :func:`load_config`."""
    if not isinstance(data, dict):
        raise ConfigError(["the file must hold a mapping with 'source' and 'target' sections"], path)
    try:
        config = MigratorConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, MigratorConfig) + _missing_table(data), path) from None
    config._data = data
    problems = cross_field_problems(config)
    if problems:
        raise ConfigError(problems, path)
    return config


def cross_field_problems(config: MigratorConfig) -> list[str]:
    """Rules that involve more than one field; each problem names the fields and says what to do."""
    if config.tables is not None:
        return _tables_problems(config)
    problems: list[str] = []
    src, tgt = config.source, config.target
    if isinstance(src, DynamoDBSource) and src.table is None:
        problems.extend(_missing_table(config._data))
    problems.extend(src.filter_problems("source"))
    for name, section in (("source", src), ("target", tgt)):
        creds = getattr(section, "credentials", None)
        if creds is not None and (creds.access_key is None) != (creds.secret_key is None):
            problems.append(
                f"{name}.credentials: accessKey and secretKey go together; give both, or neither "
                "to use the default AWS credential chain"
            )
    for name, section in (("source", src), ("target", tgt)):
        if not isinstance(section, _DynamoDBEndpoint):
            continue
        if section.type == "alternator" and section.endpoint is None:
            problems.append(f"{name}.endpoint: type alternator needs the address of an Alternator node "
                            "(host: http://scylla, port: 8000)")
        if section.alternator_setting("rack") and not section.alternator_setting("datacenter"):
            problems.append(f"{name}.rack: a rack is within a datacenter; set {name}.datacenter too")
    if isinstance(tgt, DynamoDBS3ExportTarget) and config.validation and config.validation.copy_missing_rows:
        problems.append("validation.copyMissingRows: an export's files cannot be rewritten item by item; write the "
                        "export again to a new target.path instead")
    if isinstance(tgt, DynamoDBS3ExportTarget) and not reachable_from_python(tgt.path):
        problems.append(f"target.path: {tgt.path} is not reachable from Python executors, which write the data "
                        "files; use a local or shared path, or s3://")
    if isinstance(src, DynamoDBS3ExportSource):
        problems.extend(_export_source_problems(config))
    if isinstance(src, DynamoDBSource) and src.export_snapshot is not None:
        if src.type == "alternator":
            problems.append("source.exportSnapshot: Alternator has no ExportTableToPointInTime; remove exportSnapshot "
                            "to copy with Scan")
        if config.skip_segments:
            problems.append("skipSegments: an export snapshot is read data file by data file and its savepoint "
                            "resumes each where it stopped; remove skipSegments")
    if src.type == "alternator" and tgt.stream_changes:
        problems.append(
            "target.streamChanges: the source is an Alternator table, which has no DynamoDB Stream to follow; "
            "set streamChanges: false to copy a snapshot (run again, or validate with copyMissingRows, to "
            "catch up with later writes)")
    if isinstance(src, MongoSource):
        problems.extend(src.problems(config))
    if isinstance(tgt, MongoTarget):
        problems.extend(uri_problems(tgt.uri, "target"))
        if tgt.database is None:
            problems.append("target.database: missing; this setting is required")
    elif isinstance(tgt, DynamoDBTarget) and tgt.batch_size > DYNAMODB_MAX_BATCH and not tgt.is_alternator:
        problems.append(
            f"target.maxItemsPerBatch: got {tgt.batch_size}; AWS DynamoDB accepts at most "
            f"{DYNAMODB_MAX_BATCH} items per BatchWriteItem (up to {ALTERNATOR_MAX_BATCH} is for Alternator)"
        )
    seen_from: set[str] = set()
    seen_to: set[str] = set()
    for i, rename in enumerate(config.renames):
        if rename.from_ == rename.to:
            problems.append(f"renames[{i}]: 'from' and 'to' are both {rename.from_!r}; remove the entry")
        if rename.from_ in seen_from:
            problems.append(f"renames[{i}].from: {rename.from_!r} is renamed twice")
        if rename.to in seen_to:
            problems.append(f"renames[{i}].to: two attributes would be renamed to {rename.to!r}")
        seen_from.add(rename.from_)
        seen_to.add(rename.to)
    exported = isinstance(src, DynamoDBS3ExportSource) or getattr(src, "export_snapshot", None) is not None
    if config.skip_segments and not exported:
        if src.scan_segments is None:
            problems.append(
                "skipSegments: needs source.scanSegments, the segment count the savepoint was made with"
            )
        else:
            bad = sorted(s for s in config.skip_segments if s >= src.scan_segments)
            if bad:
                problems.append(
                    f"skipSegments: {bad} not below source.scanSegments ({src.scan_segments}); "
                    "segments are numbered from 0"
                )
    if tgt.stream_changes and config.checkpoint_location is None:
        problems.append(
            "target.streamChanges: replication needs a place for its checkpoints; set savepoints.path "
            "(or streaming.checkpointLocation)"
        )
    checkpoint = config.checkpoint_location
    if tgt.stream_changes and checkpoint and not reachable_from_python(checkpoint):
        problems.append(
            f"streaming.checkpointLocation: {checkpoint} is not reachable from Python executors, which record "
            "each micro-batch's shard positions beside the checkpoint; use a local or shared path, or s3://"
        )
    if (isinstance(tgt, DynamoDBTarget) and isinstance(src, DynamoDBSource)
            and _place(src, src.table) == _place(tgt, config.target_table)):
        problems.append(
            f"target.table: the target is the source table itself ({src.table!r} at the same "
            "endpoint, region and credentials); set target.table, target.endpoint or target.region"
        )
    return problems


def _missing_table(data: dict) -> list[str]:
    """``source.table`` left out of a DynamoDB source without ``tables`` (reported with the other problems)."""
    source = data.get("source")
    if data.get("tables") is not None or not isinstance(source, dict) or source.get("type", "dynamodb") not in (
            "dynamodb", "dynamo", "alternator") or source.get("table") is not None:
        return []
    return ["source.table: missing; this setting is required (or list the tables of a migration of many under "
            "tables)"]


def _tables_problems(config: MigratorConfig) -> list[str]:
    """A configuration of many tables: its own rules, the rules every table's configuration must keep (checked
    once, for any table), and those of the tables it names (their overrides)."""
    from .config_tables import table_data

    src, tgt, tables = config.source, config.target, config.tables
    problems = []
    if isinstance(src, DynamoDBS3ExportSource):
        return ["tables: a dynamodb-s3-export source holds one table; remove tables (or read the export of each "
                "table with a configuration of its own)"]
    if isinstance(src, MongoSource):
        problems += [f"source.{key}: with tables, namespaces come from tables.include (<database>.<collection> "
                     f"patterns); remove source.{key}" for key in ("database", "collection") if getattr(src, key)]
        problems += [f"tables: {name!r} is not a namespace; write <database>.<collection> (patterns too: shop.*)"
                     for name in tables.include + tables.exclude + list(tables.overrides) if "." not in name]
    elif src.table is not None:
        problems.append("source.table: with tables, the source tables come from tables.include; remove source.table")
    named = getattr(tgt, "collection" if isinstance(tgt, MongoTarget) else "table", None)
    if named is not None:
        key = "collection" if isinstance(tgt, MongoTarget) else "table"
        problems.append(f"target.{key}: with tables, each table's target is named by tables.targetPrefix and "
                        f"targetSuffix, or tables.overrides.<table>.target; remove target.{key}")
    if isinstance(tgt, DynamoDBS3ExportTarget):
        problems.append("tables: a dynamodb-s3-export target holds one table; migrate each table with a "
                        "configuration of its own, each with its own target.path")
    if config.skip_segments:
        problems.append("skipSegments: segments are a table's own; with tables, remove skipSegments (a rerun "
                        "resumes each table from its savepoint)")
    if problems:
        return problems
    shared: list[str] = []
    for name in [any_table(src)] + list(dict.fromkeys(tables.names + list(tables.overrides))):
        try:
            parse_config(table_data(config._data, name, tables.target_name(name)))
        except ConfigError as exc:
            for problem in exc.problems:
                if name == any_table(src):
                    shared.append(problem)
                elif problem.replace(name, any_table(src)) not in shared:
                    where = f"tables.overrides.{name}" if name in tables.overrides else f"tables: table {name}"
                    problems.append(f"{where}: {problem}")
    return [_for_every_table(p) for p in shared] + problems


def _for_every_table(problem: str) -> str:
    """A problem of every table's configuration, said of the ``tables`` section."""
    if problem.startswith("target.table: the target is the source table itself"):
        return ("tables: every table would be written onto itself (same endpoint, region and credentials); set "
                "tables.targetPrefix or targetSuffix, target.endpoint or target.region")
    return problem.replace(f"{ANY_TABLE}.{ANY_TABLE}", "<namespace>").replace(ANY_TABLE, "<table>")


def _export_source_problems(config: MigratorConfig) -> list[str]:
    """A dynamodb-s3-export source: its table description, and what an export cannot do."""
    src, tgt, problems = config.source, config.target, []
    described = src.table_description
    defined = {a.name for a in described.attribute_definitions}
    kinds = [k.type for k in described.key_schema]
    if kinds not in (["HASH"], ["HASH", "RANGE"]):
        problems.append(f"source.tableDescription.keySchema: got {kinds}; list the HASH key, then the RANGE key "
                        "if the table has one")
    for key in described.key_schema:
        if key.name not in defined:
            problems.append(f"source.tableDescription.keySchema: {key.name!r} is not in attributeDefinitions; "
                            "define its type (S, N or B) there")
    if isinstance(tgt, (DynamoDBTarget, MongoTarget)) and not (getattr(tgt, "table", None)
                                                               or getattr(tgt, "collection", None)):
        field_name = "collection" if isinstance(tgt, MongoTarget) else "table"
        problems.append(f"target.{field_name}: an export names no table to default to; set target.{field_name}")
    if tgt.stream_changes:
        problems.append("target.streamChanges: an export is a snapshot with no stream of changes; set "
                        "streamChanges: false (replicate from the live table's stream with a dynamodb source)")
    if config.skip_segments:
        problems.append("skipSegments: an export is read data file by data file and its savepoint resumes each "
                        "where it stopped; remove skipSegments")
    if config.validation and config.validation.copy_missing_rows:
        problems.append("validation.copyMissingRows: an export cannot be read by key; run the migration again "
                        "instead (it writes every item)")
    return problems


def _place(section: _DynamoDBEndpoint, table: str) -> tuple:
    """What identifies a table: endpoint, region, identity and name (secrets left out)."""
    creds = section.credentials
    identity = (
        creds.access_key if creds else None,
        creds.assume_role.arn if creds and creds.assume_role else None,
    )
    return (section.endpoint.url() if section.endpoint else None, section.region, identity, table)
