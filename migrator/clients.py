"""How to reach an AWS-compatible endpoint, as a picklable value, and the builders that use it.

Spark pickles everything a task closes over, and boto3 clients do not pickle; so tasks carry a
:class:`ClientSpec` and build their client inside the task, once. Secrets stay wrapped in
``SecretStr`` so that a ``repr`` of the spec (in a log line or a traceback) shows no key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from .alternator import Balancing
from .config import _DynamoDBEndpoint

#: Error codes that mean "slow down": retried without limit, with backoff.
THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "TooManyRequestsException",
        "SlowDown",
        # DynamoDB Streams' answer to more than ~5 GetRecords a second or two readers on a shard.
        "LimitExceededException",
    }
)
#: Error codes worth a bounded number of retries (the service had a bad moment).
TRANSIENT_CODES = frozenset(
    {"InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
     "TransactionInProgressException", "RequestTimeout"}
)

_DEFAULT_REGION_FOR_ENDPOINTS = "us-east-1"


@dataclass(frozen=True)
class ClientSpec:
    """Everything needed to build a client for one endpoint; safe to pickle and to log.

    Parameters
    ----------
    endpoint_url : str, optional
        A custom endpoint; None for AWS.
    region : str, optional
        None means the default chain (``AWS_REGION``, profile).
    access_key, secret_key, session_token : optional
        Static credentials; None means the default AWS credential chain.
    role_arn, role_session_name : optional
        A role to assume from the base credentials.
    max_connections : int
        HTTP connection pool size; one per concurrent request in a task.
    streams_endpoint_url : str, optional
        Where DynamoDB Streams calls go, when not to ``endpoint_url`` (a stream simulator, a VPC
        endpoint for Streams); None: ``endpoint_url``, or AWS's Streams endpoint of the region.
    balancing : Balancing, optional
        Spread DynamoDB calls over the Alternator nodes ``endpoint_url`` lists (and gzip them), as
        :mod:`migrator.alternator` says; None: every call to ``endpoint_url``.
    wire_json : bool
        Send the calls that carry items (Scan, Query, BatchWriteItem, BatchGetItem, GetRecords) as plain
        JSON (:mod:`migrator.wire_json`: a fraction of botocore's CPU, items in wire form); False: botocore
        (``botocoreCalls: true``).
    """

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: SecretStr | None = None
    session_token: SecretStr | None = None
    role_arn: str | None = None
    role_session_name: str = "migrator"
    max_connections: int = 10
    streams_endpoint_url: str | None = None
    connect_timeout: float = 10.0
    s3_path_style: bool = False  # address S3 buckets in the path (usePathStyleAccess)
    balancing: Balancing | None = None
    wire_json: bool = True

    @classmethod
    def from_config(cls, section: _DynamoDBEndpoint, max_connections: int = 10) -> "ClientSpec":
        """The spec for a DynamoDB ``source`` or ``target`` section; its ``maxConnections`` wins over
        ``max_connections``, what the caller's concurrency needs."""
        streams = getattr(section, "streams_endpoint", None)  # a source's setting only
        connect_ms = section.alternator_setting("connection_timeout_ms")
        return cls.from_section(
            section,
            max_connections=section.alternator_setting("max_connections") or max_connections,
            streams_endpoint_url=streams.url() if streams else None,
            connect_timeout=connect_ms / 1000 if connect_ms else 10.0,
            balancing=balancing_of(section),
            wire_json=not section.botocore_calls,
        )

    @classmethod
    def from_section(cls, section: Any, **settings: Any) -> "ClientSpec":
        """The spec for any section with ``endpoint``, ``region`` and ``credentials``, and ``settings``."""
        creds = section.credentials
        return cls(
            endpoint_url=section.endpoint.url() if section.endpoint else None,
            region=section.region,
            access_key=creds.access_key if creds else None,
            secret_key=creds.secret_key if creds else None,
            session_token=creds.session_token if creds else None,
            role_arn=creds.assume_role.arn if creds and creds.assume_role else None,
            role_session_name=creds.assume_role.session_name if creds and creds.assume_role else "migrator",
            **settings,
        )

    def describe(self) -> str:
        """Where this spec points, for log lines: endpoint or region, never credentials."""
        where = self.endpoint_url or f"AWS {self.region or '(default region)'}"
        return f"{where} as role {self.role_arn}" if self.role_arn else where

    def session(self):
        """A boto3 session with this spec's credentials (assuming the role if one is set)."""
        import boto3
        import botocore.session
        from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

        region = self.region
        if region is None and self.endpoint_url is not None:
            region = _DEFAULT_REGION_FOR_ENDPOINTS
        core = botocore.session.Session()
        if self.access_key is not None and self.secret_key is not None:
            core.set_credentials(
                self.access_key,
                self.secret_key.get_secret_value(),
                self.session_token.get_secret_value() if self.session_token else None,
            )
        if self.role_arn is not None:
            base = boto3.Session(botocore_session=core, region_name=region)
            fetcher = AssumeRoleCredentialFetcher(
                client_creator=base._session.create_client,
                source_credentials=base._session.get_credentials(),
                role_arn=self.role_arn,
                extra_args={"RoleSessionName": self.role_session_name},
            )
            refreshed = botocore.session.Session()
            # The private attribute is how botocore itself installs refreshable credentials.
            refreshed._credentials = DeferredRefreshableCredentials(
                refresh_using=fetcher.fetch_credentials, method="assume-role"
            )
            core = refreshed
        return boto3.Session(botocore_session=core, region_name=region)

    def client(self, service: str, retries: int = 10, endpoint_url: str | None = None) -> Any:
        """A low-level client for ``service`` (``dynamodb``, ``dynamodbstreams``, ``s3``).

        ``retries`` counts botocore's attempts, the first included; the copy loops pass 1 so that
        every throttle reaches them, to be retried without limit and counted.
        """
        from botocore.config import Config

        config = Config(
            retries={"mode": "standard", "total_max_attempts": retries},
            max_pool_connections=self.max_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=60,
            tcp_keepalive=True,
            # Items come from DynamoDB itself: validating every nested attribute again client-side
            # costs more CPU than the copy (the service still validates).
            parameter_validation=False,
            s3={"addressing_style": "path"} if self.s3_path_style else None,
        )
        session = self.session()
        if session.region_name is None:
            from .errors import MigratorError

            raise MigratorError(
                f"no AWS region for {self.describe()}: set region in the configuration "
                "or AWS_REGION in the environment"
            )
        client = session.client(service, endpoint_url=endpoint_url or self.endpoint_url, config=config)
        if service == "dynamodb" and self.balancing is not None and self.endpoint_url and not endpoint_url:
            from .alternator import install

            install(client, self.endpoint_url, self.balancing, self.connect_timeout)
        if self.wire_json and service in ("dynamodb", "dynamodbstreams"):
            from .wire_json import WireJsonClient

            return WireJsonClient(client)
        return client

    def dynamodb(self, retries: int = 10) -> Any:
        return self.client("dynamodb", retries)

    def streams(self, retries: int = 10) -> Any:
        return self.client("dynamodbstreams", retries, self.streams_endpoint_url)


def balancing_of(section: _DynamoDBEndpoint) -> Balancing | None:
    """How a section's DynamoDB client spreads its calls: over the Alternator nodes for ``type: alternator``
    (and the earlier layout's ``alternator:`` block), as Scylla Migrator's client does; None otherwise."""
    if section.endpoint is None or (section.type != "alternator" and section.alternator is None):
        return None
    setting = section.alternator_setting
    return Balancing(
        datacenter=setting("datacenter"),
        rack=setting("rack"),
        active_refresh_ms=setting("active_refresh_interval_ms") or Balancing.active_refresh_ms,
        idle_refresh_ms=setting("idle_refresh_interval_ms") or Balancing.idle_refresh_ms,
        compression=bool(setting("compression")),
        spread=setting("load_balancing") is not False,
    )


_shared: dict[tuple, Any] = {}
_shared_lock = threading.Lock()


def shared_client(spec: ClientSpec, service: str, retries: int = 1) -> Any:
    """A client built once per Python process for ``spec`` and ``service``, then reused.

    For executor tasks that run every trigger (stream reads, change writes): building a boto3
    client costs about 0.1 s of CPU, more than a micro-batch's whole read of a quiet shard group.
    Spark reuses its Python workers across tasks, and boto3 clients are thread-safe; credentials
    that expire (an assumed role) refresh inside the client.
    """
    key = (spec, service, retries)
    with _shared_lock:
        found = _shared.get(key)
    if found is None:
        endpoint = spec.streams_endpoint_url if service == "dynamodbstreams" else None
        found = spec.client(service, retries, endpoint)
        with _shared_lock:
            found = _shared.setdefault(key, found)
    return found


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError``, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def error_kind(exc: BaseException) -> str:
    """Classify an exception from a DynamoDB call.

    Returns
    -------
    str
        ``"throttle"`` (retry forever with backoff), ``"transient"`` (retry a bounded number of
        times: 5xx, connection errors) or ``"fatal"`` (do not retry: validation, access denied).
    """
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError, ReadTimeoutError

    code = error_code(exc)
    if code in THROTTLE_CODES:
        return "throttle"
    if code in TRANSIENT_CODES:
        return "transient"
    if code is None and isinstance(exc, (BotoConnectionError, HTTPClientError, ReadTimeoutError)):
        return "transient"
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode") if code else None
    if status is not None and status >= 500:
        return "transient"
    return "fatal"
