"""The YAML configuration: typed sections, every validation rule, redacted output.

A Scylla Migrator DynamoDB configuration loads unchanged: the keys keep their camelCase names
(``scanSegments``, ``throughputReadPercent``...). Keys that only make sense to Scylla Migrator's
JVM clients are accepted and listed in ``IGNORED_KEYS`` so that a user knows they have no effect.

``load_config`` reads a file, checks every field and every cross-field rule, and raises one
:class:`~migrator.errors.ConfigError` listing all the problems found, before any Spark work.
"""

from __future__ import annotations

import typing
from typing import Any, Literal, Optional, Union
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic.alias_generators import to_camel

from .config_errors import describe_errors
from .errors import ConfigError

#: DynamoDB's own limit on BatchWriteItem; Alternator allows up to 100 by default.
DYNAMODB_MAX_BATCH = 25
ALTERNATOR_MAX_BATCH = 100
#: DynamoDB rejects a Scan with TotalSegments above this.
MAX_TOTAL_SEGMENTS = 1_000_000

TableName = typing.Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{3,255}$")]
Percent = typing.Annotated[float, Field(ge=0.1, le=1.5)]
PositiveInt = typing.Annotated[int, Field(gt=0)]


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, alias_generator=to_camel, validate_by_name=False
    )


class Endpoint(_Section):
    """A custom endpoint (DynamoDB Local, Alternator, a VPC endpoint).

    ``host`` may carry the scheme (``http://scylla``), as Scylla Migrator's Alternator examples do;
    without one, ``https`` is used on port 443 and ``http`` elsewhere.
    """

    host: str = Field(min_length=1)
    port: Optional[typing.Annotated[int, Field(gt=0, lt=65536)]] = None

    def url(self) -> str:
        """The endpoint as a URL that botocore accepts."""
        parts = urlsplit(self.host if "://" in self.host else f"//{self.host}")
        scheme = parts.scheme or ("https" if self.port == 443 else "http")
        netloc = parts.hostname or ""
        port = self.port or parts.port
        if port:
            netloc = f"{netloc}:{port}"
        return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


class AssumeRole(_Section):
    arn: str = Field(min_length=1)
    session_name: str = "migrator"


class Credentials(_Section):
    """Static credentials, optionally used to assume a role.

    Without ``accessKey``/``secretKey`` the default AWS chain provides the base credentials
    (environment, profile, instance role) and ``assumeRole``, if given, is assumed from them.
    """

    access_key: Optional[str] = None
    secret_key: Optional[SecretStr] = None
    session_token: Optional[SecretStr] = None
    assume_role: Optional[AssumeRole] = None


class AlternatorSettings(_Section):
    """Scylla Migrator's ``target.alternator`` section. Only ``maxItemsPerBatch`` has an effect here;
    the others tune Scylla Migrator's JVM HTTP client and are accepted so its configs load."""

    datacenter: Optional[str] = None
    rack: Optional[str] = None
    active_refresh_interval_ms: Optional[int] = None
    idle_refresh_interval_ms: Optional[int] = None
    compression: Optional[bool] = None
    optimize_headers: Optional[bool] = None
    max_connections: Optional[PositiveInt] = None
    connection_max_idle_time_ms: Optional[int] = None
    connection_time_to_live_ms: Optional[int] = None
    connection_acquisition_timeout_ms: Optional[int] = None
    connection_timeout_ms: Optional[int] = None
    max_items_per_batch: Optional[typing.Annotated[int, Field(ge=1, le=ALTERNATOR_MAX_BATCH)]] = None


class _DynamoDBEndpoint(_Section):
    type: Literal["dynamodb", "dynamo", "alternator"]
    region: Optional[str] = None
    endpoint: Optional[Endpoint] = None
    credentials: Optional[Credentials] = None

    @property
    def is_alternator(self) -> bool:
        """True for ScyllaDB Alternator: named so, or any non-AWS endpoint of type dynamodb."""
        if self.type == "alternator":
            return True
        if self.endpoint is None:
            return False
        host = urlsplit(self.endpoint.url()).hostname or ""
        return not host.endswith(".amazonaws.com")


class DynamoDBSource(_DynamoDBEndpoint):
    """``source``: the DynamoDB table to copy."""

    table: TableName
    scan_segments: Optional[typing.Annotated[int, Field(gt=0, le=MAX_TOTAL_SEGMENTS)]] = None
    read_throughput: Optional[PositiveInt] = None
    throughput_read_percent: Optional[Percent] = None
    max_map_tasks: Optional[PositiveInt] = None


class DynamoDBTarget(_DynamoDBEndpoint):
    """``target``: a DynamoDB-compatible table (AWS DynamoDB, ScyllaDB Alternator)."""

    table: Optional[TableName] = None
    write_throughput: Optional[PositiveInt] = None
    throughput_write_percent: Optional[Percent] = None
    billing_mode: Optional[Literal["PROVISIONED", "PAY_PER_REQUEST"]] = None
    remove_consumed_capacity: Optional[bool] = None
    max_items_per_batch: Optional[typing.Annotated[int, Field(ge=1, le=ALTERNATOR_MAX_BATCH)]] = None
    write_concurrency: typing.Annotated[int, Field(ge=1, le=64)] = 4
    stream_changes: bool = False
    skip_initial_snapshot_transfer: bool = False
    alternator: Optional[AlternatorSettings] = None

    @property
    def batch_size(self) -> int:
        """Items per BatchWriteItem: ``maxItemsPerBatch`` (either place), else DynamoDB's 25."""
        if self.max_items_per_batch is not None:
            return self.max_items_per_batch
        if self.alternator is not None and self.alternator.max_items_per_batch is not None:
            return self.alternator.max_items_per_batch
        return DYNAMODB_MAX_BATCH


class MongoWriteConcern(_Section):
    """``target.writeConcern``: MongoDB's write concern for every write."""

    w: Optional[Union[int, str]] = None
    j: Optional[bool] = None
    wtimeout_ms: Optional[PositiveInt] = None

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.w is not None:
            out["w"] = self.w
        if self.j is not None:
            out["j"] = self.j
        if self.wtimeout_ms is not None:
            out["wtimeout"] = self.wtimeout_ms
        return out


class MongoNumbers(_Section):
    """``target.numbers``: what to do with a number Decimal128 cannot hold (35 to 38 digits)."""

    on_overflow: Literal["error", "string", "double"] = "error"


class MongoTarget(_Section):
    """``target`` with ``type: mongodb``: a MongoDB collection."""

    type: Literal["mongodb"]
    uri: SecretStr
    database: str = Field(min_length=1, pattern=r"^[^/\\. \"$]+$")
    collection: Optional[str] = Field(default=None, min_length=1, pattern=r"^[^$\x00]+$")
    write_concern: Optional[MongoWriteConcern] = None
    exists: Literal["error", "drop", "rename", "append"] = "error"
    numbers: MongoNumbers = Field(default_factory=MongoNumbers)
    sets: Literal["array", "tagged"] = "array"
    field_names: Literal["escape", "keep", "error"] = "escape"
    ttl_field: Optional[str] = Field(default=None, min_length=1)
    batch_size: typing.Annotated[int, Field(ge=1, le=100_000)] = 1000
    batch_bytes: typing.Annotated[int, Field(ge=1024, le=48 * 1024 * 1024)] = 8 * 1024 * 1024
    write_concurrency: typing.Annotated[int, Field(ge=1, le=64)] = 4
    stream_changes: bool = False
    skip_initial_snapshot_transfer: bool = False

    @property
    def is_alternator(self) -> bool:
        return False

    def redacted_uri(self) -> str:
        """The URI without user information, for logs and plans."""
        parts = urlsplit(self.uri.get_secret_value())
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return f"{parts.scheme}://{'***@' if '@' in parts.netloc else ''}{netloc}{parts.path}"


Target = typing.Annotated[Union[DynamoDBTarget, MongoTarget], Field(discriminator="type")]


class Savepoints(_Section):
    """``savepoints``: where progress is recorded so that a rerun resumes."""

    path: str = Field(min_length=1)
    interval_seconds: PositiveInt = 300


class Rename(_Section):
    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)


class Validation(_Section):
    """``validation``: Scylla Migrator's validator settings, accepted as they are."""

    compare_timestamps: Optional[bool] = None
    ttl_tolerance_millis: Optional[int] = None
    writetime_tolerance_millis: Optional[int] = None
    failures_to_fetch: Optional[typing.Annotated[int, Field(ge=0)]] = None
    floating_point_tolerance: Optional[float] = None
    timestamp_ms_tolerance: Optional[int] = None
    hash_columns: Optional[list[str]] = None


class Streaming(_Section):
    """``streaming``: live replication through DynamoDB Streams (with ``target.streamChanges``)."""

    view_type: Literal["NEW_IMAGE", "NEW_AND_OLD_IMAGES"] = "NEW_IMAGE"
    checkpoint_location: Optional[str] = Field(default=None, min_length=1)
    trigger_seconds: typing.Annotated[float, Field(gt=0, le=3600)] = 1.0
    max_records_per_batch: PositiveInt = 10_000
    stop_when_idle_seconds: Optional[typing.Annotated[float, Field(gt=0)]] = None


class DeadLetter(_Section):
    """``deadLetter``: where items that cannot be written are kept (JSON lines)."""

    path: str = Field(min_length=1)


class MigratorConfig(_Section):
    """The whole configuration file."""

    source: DynamoDBSource
    target: Target
    savepoints: Optional[Savepoints] = None
    renames: list[Rename] = Field(default_factory=list)
    skip_segments: Optional[list[typing.Annotated[int, Field(ge=0)]]] = None
    skip_token_ranges: Optional[list[Any]] = None
    validation: Optional[Validation] = None
    dead_letter: Optional[DeadLetter] = None
    streaming: Streaming = Field(default_factory=Streaming)

    @property
    def target_table(self) -> str:
        """The target table (or collection) name: ``target.table`` / ``target.collection``, else
        the source table's."""
        if isinstance(self.target, MongoTarget):
            return self.target.collection or self.source.table
        return self.target.table or self.source.table

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
        A local file path.

    Returns
    -------
    MigratorConfig

    Raises
    ------
    ConfigError
        When the file cannot be read or parsed, or any setting is invalid; the error lists
        every problem found.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], path) from exc
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
        raise ConfigError(describe_errors(exc, MigratorConfig), path) from None
    problems = cross_field_problems(config)
    if problems:
        raise ConfigError(problems, path)
    return config


def cross_field_problems(config: MigratorConfig) -> list[str]:
    """Rules that involve more than one field; each problem names the fields and says what to do."""
    problems: list[str] = []
    src, tgt = config.source, config.target
    for name, section in (("source", src), ("target", tgt)):
        creds = getattr(section, "credentials", None)
        if creds is not None and (creds.access_key is None) != (creds.secret_key is None):
            problems.append(
                f"{name}.credentials: accessKey and secretKey go together; give both, or neither "
                "to use the default AWS credential chain"
            )
    if isinstance(tgt, MongoTarget):
        if not tgt.uri.get_secret_value().startswith(("mongodb://", "mongodb+srv://")):
            problems.append("target.uri: must start with mongodb:// or mongodb+srv:// (value not shown: it may "
                            "hold a password)")
    elif tgt.batch_size > DYNAMODB_MAX_BATCH and not tgt.is_alternator:
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
    if config.skip_segments:
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
    if not isinstance(tgt, MongoTarget) and _place(src, src.table) == _place(tgt, config.target_table):
        problems.append(
            f"target.table: the target is the source table itself ({src.table!r} at the same "
            "endpoint, region and credentials); set target.table, target.endpoint or target.region"
        )
    return problems


def _place(section: _DynamoDBEndpoint, table: str) -> tuple:
    """What identifies a table: endpoint, region, identity and name (secrets left out)."""
    creds = section.credentials
    identity = (
        creds.access_key if creds else None,
        creds.assume_role.arn if creds and creds.assume_role else None,
    )
    return (section.endpoint.url() if section.endpoint else None, section.region, identity, table)
