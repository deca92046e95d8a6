"""A DynamoDB HTTP proxy that adds point-in-time recovery and table exports to DynamoDB Local, for tests.

DynamoDB Local answers ``DescribeContinuousBackups``, ``UpdateContinuousBackups``, ``ExportTableToPointInTime``,
``DescribeExport`` and ``ListExports`` with ``UnknownOperationException``. This proxy answers those five as AWS
does (JSON 1.0 protocol, AWS's error names, timestamps as epoch seconds) and forwards every other call to the
DynamoDB Local behind it unchanged. An export scans the table upstream (consistent reads, every page) and
writes it to S3 in the layout AWS documents for DYNAMODB_JSON exports: under
``<S3Prefix>/AWSDynamoDB/<export id>/`` an empty ``_started``, ``data/<26 random chars>.json.gz`` (gzipped lines
``{"Item": {...}}``, the item exactly as the Scan returned it; a file may hold no item, as AWS's can),
``manifest-files.json`` (a line per data file: itemCount, md5Checksum, etag, dataFileS3Key as a key of the
bucket), ``manifest-summary.json`` and a ``.md5`` file (base64 MD5) beside each manifest. Data files are
uploaded as one-part multipart uploads, so their ETag has AWS's ``-1`` suffix and is not their MD5.

What it simulates as AWS does: PITR off until enabled per table; ``PointInTimeRecoveryUnavailableException``,
``InvalidExportTimeException`` (before PITR was enabled or in the future, 1 s clock slack),
``TableNotFoundException``; ``ClientToken`` idempotency (the same request returns the same export; the same
token with other parameters is refused with ``ExportConflictException``, "Duplicate request detected", which is
what AWS answers, although its API reference names IdempotentParameterMismatch); ``ExportType`` left out of the
description unless requested (AWS does so); an export IN_PROGRESS for ``delay`` seconds before it is written;
S3 errors as ``FailureCode`` ``S3<S3 error code>`` (``S3NoSuchBucket``); ListExports sorted by ARN, paged.

What it does not simulate: the export holds the table as scanned when the delay ends, not as it was at
ExportTime (a real export is exact to the second: writes made after ExportTime are in this one, and items
deleted since are missing); ``LatestRestorableDateTime`` is now (AWS lags about 5 minutes); no
INCREMENTAL_EXPORT, no ION, no FilterSpecification, no KMS (each refused with a ValidationException naming the
simulator), no S3BucketOwner check, no limit on concurrent exports, no cost (``BilledSizeBytes`` is
DescribeTable's TableSizeBytes), no ENABLING phase nor ContinuousBackupsUnavailableException after
UpdateContinuousBackups. State lives in memory; stopping the proxy fails the exports still waiting.
"""

from __future__ import annotations

import base64
import collections
import gzip
import hashlib
import json
import os
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from devtools.http_forward import QuietHandler, forward

TARGET = "DynamoDB_20120810."
ERROR_TYPE = "com.amazonaws.dynamodb.v20120810#"
CLOCK_SLACK = 1.0
RECOVERY_DAYS = 35
FORMAT = "DYNAMODB_JSON"
SSE = {"ServerSideEncryption": "AES256"}  # SSE-S3, the only server-side encryption simulated
EXPORT_ARN = re.compile(r"^arn:[^:]+:dynamodb:[^:]*:[^:]*:table/[^/]+/export/[^/]+$")
ENUMS = {"ExportFormat": ("ION", "DYNAMODB_JSON"), "ExportType": ("FULL_EXPORT", "INCREMENTAL_EXPORT"),
         "S3SseAlgorithm": ("AES256", "KMS")}
NOT_SIMULATED = {("ExportFormat", "ION"): "this simulator writes only DYNAMODB_JSON exports",
                 ("ExportType", "INCREMENTAL_EXPORT"): "this simulator makes only FULL_EXPORT exports",
                 ("S3SseAlgorithm", "KMS"): "this simulator does not encrypt with KMS"}


class ApiError(Exception):
    """An error answer as AWS names it: ``__type`` ``com.amazonaws.dynamodb.v20120810#<name>``, HTTP 400."""

    def __init__(self, name: str, message: str, status: int = 400):
        super().__init__(f"{name}: {message}")
        self.name, self.message, self.status = name, message, status

    def body(self) -> bytes:
        return json.dumps({"__type": ERROR_TYPE + self.name, "message": self.message}).encode()


class UpstreamError(Exception):
    """An error answer of DynamoDB Local, passed on as it came."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"DynamoDB Local answered {status}: {body[:300].decode(errors='replace')}")
        self.status, self.body = status, body


class SimulatedFailure(Exception):
    """The failure ``fail=`` asks for."""


@dataclass
class Table:
    """What an export needs of a table, from DescribeTable."""

    name: str
    arn: str
    id: str
    size: int


@dataclass
class Pitr:
    """A table's point-in-time recovery: on since ``enabled_at`` (epoch seconds), or off (None)."""

    enabled_at: float | None = None
    days: int = RECOVERY_DAYS


@dataclass
class Export:
    """One export: its request (without ClientToken, for idempotency) and its description as it is now."""

    params: dict[str, Any]
    table: Table
    base: str
    description: dict[str, Any]


class ExportAPI:
    """Start with :meth:`start` (or ``with``); point clients at :attr:`endpoint`; read :attr:`calls` after.

    Parameters
    ----------
    upstream : str
        The DynamoDB Local endpoint, ``http://127.0.0.1:PORT``; every other operation is forwarded there.
    s3_endpoint : str
        The S3 endpoint exports are written to (moto's server in the tests), with path-style addressing.
    delay : float
        Seconds an export stays IN_PROGRESS before the table is scanned and written.
    files : int
        The number of data files an export is split into (contiguous chunks of the Scan; some may be empty).
    fail : str, optional
        When set, every export ends FAILED with FailureCode ``UNKNOWN`` and this FailureMessage.

    ``calls`` counts every request received by operation name (``Scan``, ``ExportTableToPointInTime``, ...), so a
    test can show what reached the source. The export's own Scans go straight to ``upstream`` and are not counted.
    """

    def __init__(self, upstream: str, s3_endpoint: str, *, delay: float = 0.0, files: int = 3,
                 fail: str | None = None):
        if files < 1:
            raise ValueError(f"files: got {files}; must be at least 1")
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.s3_endpoint = s3_endpoint
        self.delay = delay
        self.files = files
        self.fail = fail
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._pitr: dict[str, Pitr] = {}
        self._exports: dict[str, Export] = {}
        self._tokens: dict[str, Export] = {}
        self._workers: list[threading.Thread] = []
        self._s3_client: Any = None
        self._s3_lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "ExportAPI":
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; exports still waiting out their delay end FAILED."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        for worker in list(self._workers):
            worker.join(timeout=30)

    def __enter__(self) -> "ExportAPI":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- requests ------------------------------------------------------------------------------------------------

    def _operations(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {"DescribeContinuousBackups": self._describe_backups, "UpdateContinuousBackups": self._update_backups,
                "ExportTableToPointInTime": self._export_table, "DescribeExport": self._describe_export,
                "ListExports": self._list_exports}

    def _count(self, operation: str) -> None:
        with self._lock:
            self.calls[operation] += 1

    def _answer(self, operation: Callable[[dict[str, Any]], dict[str, Any]], body: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            return 400, ApiError("SerializationException", str(exc)).body()
        try:
            return 200, json.dumps(operation(request)).encode()
        except ApiError as exc:
            return exc.status, exc.body()
        except UpstreamError as exc:
            return exc.status, exc.body
        except Exception as exc:  # noqa: BLE001 - answered as the service would, not raised into http.server
            return 500, json.dumps({"__type": ERROR_TYPE + "InternalServerError", "message": str(exc)}).encode()

    # -- point-in-time recovery ----------------------------------------------------------------------------------

    def _describe_backups(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(required(request, "TableName"))
        with self._lock:
            return backups(self._pitr.get(table.id, Pitr()), time.time())

    def _update_backups(self, request: dict[str, Any]) -> dict[str, Any]:
        table = self._table(required(request, "TableName"))
        spec = required(request, "PointInTimeRecoverySpecification")
        enabled = spec.get("PointInTimeRecoveryEnabled") if isinstance(spec, dict) else None
        if not isinstance(enabled, bool):
            raise ApiError("ValidationException", "1 validation error detected: Value null at "
                           "'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy "
                           "constraint: Member must not be null")
        days = spec.get("RecoveryPeriodInDays", RECOVERY_DAYS)
        if not isinstance(days, int) or not 1 <= days <= RECOVERY_DAYS:
            raise ApiError("ValidationException", f"RecoveryPeriodInDays: got {days!r}; must be 1 to {RECOVERY_DAYS}")
        now = time.time()
        with self._lock:
            pitr = self._pitr.setdefault(table.id, Pitr())
            if not enabled:
                pitr.enabled_at = None
            elif pitr.enabled_at is None:
                pitr.enabled_at = now
            pitr.days = days
            return backups(pitr, now)

    # -- exports -------------------------------------------------------------------------------------------------

    def _export_table(self, request: dict[str, Any]) -> dict[str, Any]:
        check_export_request(request)
        table = self._table_of_arn(request["TableArn"])
        token = request.get("ClientToken") or str(uuid.uuid4())
        params = {k: v for k, v in request.items() if k != "ClientToken"}
        with self._lock:
            known = self._tokens.get(token)
            if known is not None:
                if known.params != params:
                    raise ApiError("ExportConflictException", f"Duplicate request detected: client token {token} "
                                   "was used with other parameters")
                return {"ExportDescription": dict(known.description)}
            export = self._new_export(table, request, params, token, time.time())
            self._exports[export.description["ExportArn"]] = self._tokens[token] = export
            description = dict(export.description)
        worker = threading.Thread(target=self._run, args=(export,), daemon=True, name=f"export-{export.base}")
        self._workers.append(worker)
        worker.start()
        return {"ExportDescription": description}

    def _new_export(self, table: Table, request: dict[str, Any], params: dict[str, Any], token: str,
                    now: float) -> Export:
        """The export of ``request``, IN_PROGRESS; call with the lock held (it reads the table's PITR)."""
        export_time = self._export_time(table, request.get("ExportTime"), now)
        export_id = f"{int(now * 1000):014d}-{secrets.token_hex(4)}"
        prefix = request.get("S3Prefix") or ""
        description = {"ExportArn": f"{table.arn}/export/{export_id}", "ExportStatus": "IN_PROGRESS",
                       "StartTime": round(now, 3), "ExportTime": round(export_time, 3), "TableArn": table.arn,
                       "TableId": table.id, "ClientToken": token, "S3Bucket": request["S3Bucket"],
                       "ExportFormat": request.get("ExportFormat", FORMAT)}
        for name in ("S3Prefix", "S3BucketOwner", "S3SseAlgorithm", "ExportType"):
            if request.get(name) is not None:
                description[name] = request[name]
        base = f"{prefix.rstrip('/')}/AWSDynamoDB/{export_id}" if prefix else f"AWSDynamoDB/{export_id}"
        return Export(params, table, base, description)

    def _export_time(self, table: Table, requested: Any, now: float) -> float:
        pitr = self._pitr.get(table.id)
        if pitr is None or pitr.enabled_at is None:
            raise ApiError("PointInTimeRecoveryUnavailableException",
                           f"Point in time recovery is not enabled for table '{table.name}'")
        export_time = now if requested is None else float(requested)
        earliest = max(pitr.enabled_at, now - pitr.days * 86400)
        if not earliest - CLOCK_SLACK <= export_time <= now + CLOCK_SLACK:
            raise ApiError("InvalidExportTimeException", f"Export Time is invalid: {iso(export_time)} is not "
                           f"within the point in time recovery window [{iso(earliest)}, {iso(now)}]")
        return export_time

    def _describe_export(self, request: dict[str, Any]) -> dict[str, Any]:
        arn = required(request, "ExportArn")
        if not EXPORT_ARN.match(arn):
            raise ApiError("ValidationException", f"Invalid Export ARN: {arn}")
        with self._lock:
            export = self._exports.get(arn)
            if export is None:
                raise ApiError("ExportNotFoundException", f"Export not found: {arn}")
            return {"ExportDescription": dict(export.description)}

    def _list_exports(self, request: dict[str, Any]) -> dict[str, Any]:
        table_arn, after = request.get("TableArn"), request.get("NextToken") or ""
        limit = request.get("MaxResults", 25)
        with self._lock:
            arns = sorted(arn for arn, export in self._exports.items()
                          if arn > after and table_arn in (None, export.description["TableArn"]))
            page = [self._exports[arn].description for arn in arns[:limit]]
            answer: dict[str, Any] = {"ExportSummaries": [
                {"ExportArn": d["ExportArn"], "ExportStatus": d["ExportStatus"],
                 "ExportType": d.get("ExportType", "FULL_EXPORT")} for d in page]}
        if len(arns) > limit:
            answer["NextToken"] = page[-1]["ExportArn"]
        return answer

    # -- the export's background work ----------------------------------------------------------------------------

    def _run(self, export: Export) -> None:
        """Wait out the delay, write the export, and end it COMPLETED or FAILED; never leaves it IN_PROGRESS."""
        try:
            if self.fail is None:
                self._put(export, f"{export.base}/_started", b"")
            if self._stopping.wait(self.delay):
                raise RuntimeError("the export simulator was stopped before the export was written")
            if self.fail is not None:
                raise SimulatedFailure(self.fail)
            self._finish(export, "COMPLETED", self._write(export))
        except Exception as exc:  # noqa: BLE001 - every failure is the export's outcome
            code, message = failure(exc)
            self._finish(export, "FAILED", {"FailureCode": code, "FailureMessage": message})

    def _write(self, export: Export) -> dict[str, Any]:
        """Scan the table and write data files and manifests; the description's fields of a completed export."""
        size = self._table(export.table.name).size
        lines = [item_line(item) for item in self._scan(export.table.name)]
        entries = [self._write_data_file(export, chunk) for chunk in chunks(lines, self.files)]
        files_key = f"{export.base}/manifest-files.json"
        self._put_with_md5(export, files_key, "".join(compact(entry) + "\n" for entry in entries).encode())
        ended = time.time()
        summary_key = f"{export.base}/manifest-summary.json"
        self._put_with_md5(export, summary_key, compact(summary(export, files_key, size, len(lines), ended)).encode())
        return {"EndTime": round(ended, 3), "ExportManifest": summary_key, "ItemCount": len(lines),
                "BilledSizeBytes": size}

    def _write_data_file(self, export: Export, lines: list[str]) -> dict[str, Any]:
        body = gzip.compress("".join(lines).encode(), mtime=0)
        key = f"{export.base}/data/{data_file_name()}.json.gz"
        etag = self._upload(export, key, body)
        return {"itemCount": len(lines), "md5Checksum": md5_base64(body), "etag": etag, "dataFileS3Key": key}

    def _finish(self, export: Export, status: str, fields: dict[str, Any]) -> None:
        with self._lock:
            export.description.update(ExportStatus=status, **fields)
            export.description.setdefault("EndTime", round(time.time(), 3))

    # -- S3 ------------------------------------------------------------------------------------------------------

    def _s3(self) -> Any:
        with self._s3_lock:
            if self._s3_client is None:
                import boto3
                from botocore.config import Config

                config = Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                response_checksum_validation="when_required")
                self._s3_client = boto3.session.Session().client(
                    "s3", endpoint_url=self.s3_endpoint, region_name="us-east-1", config=config, **credentials())
            return self._s3_client

    def _put(self, export: Export, key: str, body: bytes) -> None:
        self._s3().put_object(Bucket=export.description["S3Bucket"], Key=key, Body=body, **SSE)

    def _put_with_md5(self, export: Export, key: str, body: bytes) -> None:
        """A manifest and, beside it, its ``.md5`` file (the base64 MD5 of the manifest)."""
        self._put(export, key, body)
        self._put(export, key.removesuffix(".json") + ".md5", md5_base64(body).encode())

    def _upload(self, export: Export, key: str, body: bytes) -> str:
        """``body`` as a one-part multipart upload, as AWS writes data files; its ETag (``<hex>-1``)."""
        s3, bucket = self._s3(), export.description["S3Bucket"]
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **SSE)["UploadId"]
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=body)
        done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
        return done["ETag"].strip('"')

    # -- DynamoDB Local ------------------------------------------------------------------------------------------

    def _table(self, name: str) -> Table:
        """DescribeTable upstream; an unknown table is ``TableNotFoundException``, as these operations name it."""
        status, body = self._call("DescribeTable", {"TableName": name})
        if status != 200:
            if b"ResourceNotFoundException" in body:
                raise ApiError("TableNotFoundException", f"Table not found: {name}")
            raise UpstreamError(status, body)
        table = json.loads(body)["Table"]
        arn = table["TableArn"]
        return Table(name, arn, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}#{table.get('CreationDateTime')}")),
                     int(table.get("TableSizeBytes", 0)))

    def _table_of_arn(self, arn: str) -> Table:
        name = arn.partition(":table/")[2]
        if not name or "/" in name:
            raise ApiError("ValidationException", f"Invalid TableArn: {arn}")
        table = self._table(name)
        if table.arn != arn:
            raise ApiError("TableNotFoundException", f"Table not found: {arn}")
        return table

    def _scan(self, name: str) -> list[dict[str, Any]]:
        """Every item of ``name`` as DynamoDB Local's JSON, by consistent Scan pages."""
        request: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
        items: list[dict[str, Any]] = []
        while True:
            status, body = self._call("Scan", request)
            if status != 200:
                raise UpstreamError(status, body)
            page = json.loads(body)
            items.extend(page["Items"])
            if not page.get("LastEvaluatedKey"):
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _call(self, operation: str, request: dict[str, Any]) -> tuple[int, bytes]:
        """One signed call to DynamoDB Local (it wants an Authorization header, though it checks no signature)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        body = json.dumps(request).encode()
        signed = AWSRequest("POST", f"{self.upstream}/", data=body,
                            headers={"X-Amz-Target": TARGET + operation, "Content-Type": "application/x-amz-json-1.0"})
        keys = credentials()
        SigV4Auth(Credentials(keys["aws_access_key_id"], keys["aws_secret_access_key"], keys["aws_session_token"]),
                  "dynamodb", "us-east-1").add_auth(signed)
        status, _, answer = forward(self._address, "POST", "/", dict(signed.headers.items()), body)
        return status, answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.body()
                target = self.headers.get("X-Amz-Target", "")
                api._count(target.rsplit(".", 1)[-1])
                operation = api._operations().get(target[len(TARGET):]) if target.startswith(TARGET) else None
                if operation is not None:
                    self.reply(*api._answer(operation, body))
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "content-length"}
                status, _, upstream_body = forward(api._address, "POST", self.path, headers, body)
                self.reply(status, upstream_body)

        return Handler


# -- pure helpers ------------------------------------------------------------------------------------------------


def required(request: dict[str, Any], name: str) -> Any:
    value = request.get(name)
    if value in (None, ""):
        field = name[0].lower() + name[1:]
        raise ApiError("ValidationException", f"1 validation error detected: Value '{value or ''}' at '{field}' "
                       "failed to satisfy constraint: Member must not be null or empty")
    return value


def check_export_request(request: dict[str, Any]) -> None:
    """The checks AWS makes before it looks at the table, and refusals of what is not simulated."""
    required(request, "TableArn")
    required(request, "S3Bucket")
    for name, allowed in ENUMS.items():
        value = request.get(name)
        if value is None:
            continue
        if value not in allowed:
            field = name[0].lower() + name[1:]
            raise ApiError("ValidationException", f"1 validation error detected: Value '{value}' at '{field}' failed "
                           f"to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]")
        if (name, value) in NOT_SIMULATED:
            raise ApiError("ValidationException", f"{name} {value}: {NOT_SIMULATED[name, value]}")
    for name in ("IncrementalExportSpecification", "FilterSpecification", "S3SseKmsKeyId"):
        if request.get(name) is not None:
            raise ApiError("ValidationException", f"{name}: not supported by this export simulator")


def backups(pitr: Pitr, now: float) -> dict[str, Any]:
    """A ContinuousBackupsDescription answer."""
    description: dict[str, Any] = {"PointInTimeRecoveryStatus": "DISABLED"}
    if pitr.enabled_at is not None:
        description = {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": pitr.days,
                       "EarliestRestorableDateTime": round(max(pitr.enabled_at, now - pitr.days * 86400), 3),
                       "LatestRestorableDateTime": round(now, 3)}
    return {"ContinuousBackupsDescription": {"ContinuousBackupsStatus": "ENABLED",
                                             "PointInTimeRecoveryDescription": description}}


def summary(export: Export, files_key: str, size: int, count: int, ended: float) -> dict[str, Any]:
    """``manifest-summary.json``, in AWS's field order."""
    d = export.description
    return {"version": "2020-06-30", "exportArn": d["ExportArn"], "startTime": iso(d["StartTime"]),
            "endTime": iso(ended), "tableArn": d["TableArn"], "tableId": d["TableId"],
            "exportTime": iso(d["ExportTime"]), "s3Bucket": d["S3Bucket"], "s3Prefix": d.get("S3Prefix"),
            "s3SseAlgorithm": d.get("S3SseAlgorithm", "AES256"), "s3SseKmsKeyId": None,
            "manifestFilesS3Key": files_key, "billedSizeBytes": size, "itemCount": count,
            "outputFormat": d["ExportFormat"], "exportType": d.get("ExportType", "FULL_EXPORT")}


def failure(exc: Exception) -> tuple[str, str]:
    """An export's FailureCode and FailureMessage for ``exc``: ``S3<code>`` for S3's errors, else UNKNOWN."""
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    if error.get("Code"):
        return f"S3{error['Code']}", error.get("Message") or str(exc)
    return "UNKNOWN", str(exc)


def item_line(item: dict[str, Any]) -> str:
    """One data file line: the item as the Scan gave it (DynamoDB JSON: numbers as text, binary as base64)."""
    return '{"Item":' + json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "}\n"


def chunks(lines: list[str], files: int) -> list[list[str]]:
    """``lines`` in ``files`` contiguous chunks of nearly equal size (empty ones when there are few lines)."""
    n = len(lines)
    return [lines[i * n // files:(i + 1) * n // files] for i in range(files)]


def data_file_name() -> str:
    """26 random characters of the lowercase base32 alphabet, as AWS names data files."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()


def md5_base64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def iso(seconds: float) -> str:
    """Epoch seconds as AWS writes them in manifests: ``2025-12-01T00:00:00.000Z``."""
    millis = int(round(seconds * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def credentials() -> dict[str, str | None]:
    """The environment's AWS_* keys if set, else ``test``/``test``."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return {"aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                "aws_session_token": os.environ.get("AWS_SESSION_TOKEN")}
    return {"aws_access_key_id": "test", "aws_secret_access_key": "test", "aws_session_token": None}
