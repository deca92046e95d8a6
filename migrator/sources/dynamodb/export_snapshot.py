"""A live table's snapshot from a point-in-time export (``source.exportSnapshot``) instead of Scan.

DynamoDB writes the export from its point-in-time recovery (PITR) backups, so the copy uses none
of the table's read capacity, whatever its size; the export takes its own time (minutes for small
tables, hours for terabytes) and is billed by the table's size. The steps, each resumable from the
savepoint:

1. PITR on: enabled if it is off (billed by the table's size each month; this says so in the log).
2. ``ExportTableToPointInTime`` at the export time: the stream's pin (or now, without a stream),
   and not before PITR's earliest restorable time. Its ARN goes into the savepoint at once, and the
   request carries a client token derived from table, time and place, so that a crash between the
   request and the save does not start a second export.
3. ``DescribeExport`` every ``pollSeconds`` until it is COMPLETED (progress in the log); a FAILED
   export is forgotten by the savepoint, so that the next run asks for a new one.
4. Its ``manifest-summary.json`` goes into the savepoint; the snapshot reads the data files with the
   export source's reader (:mod:`migrator.sources.dynamodb_export`), one segment per file.

Why no change is lost: the export holds the table as it was at the export time, which is at or after
the stream's pin; replication applies every change from the pin on, and a change applied again
converges to the same item, as with a Scan snapshot.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import threading
import time
import uuid
from typing import Any, Callable

from ...clients import ClientSpec, error_code
from ...errors import SourceError
from ...export_layout import FORMAT
from ...progress import clock_time
from ..dynamodb_export.files import ExportFiles

log = logging.getLogger(__name__)

SETTING = "source.exportSnapshot"


class ExportFailed(SourceError):
    """The export ended FAILED; the savepoint no longer records it."""


def export_files(settings: Any, source_spec: ClientSpec, manifest: str) -> tuple[ExportFiles, str]:
    """The export folder of ``manifest`` (``s3://bucket/key`` of its summary) and the summary's name."""
    bucket, _, key = manifest[len("s3://"):].partition("/")
    folder, _, name = key.rpartition("/")
    return ExportFiles(folder, bucket, s3_spec(settings, source_spec)), name


def s3_spec(settings: Any, source_spec: ClientSpec) -> ClientSpec:
    """How to read the export from S3: ``exportSnapshot``'s endpoint, region and credentials, else the source's."""
    style = bool(settings.use_path_style_access)
    if settings.credentials is not None:
        spec = ClientSpec.from_section(settings, s3_path_style=style)
        return dataclasses.replace(spec, region=spec.region or source_spec.region)
    return dataclasses.replace(source_spec, endpoint_url=settings.endpoint.url() if settings.endpoint else None,
                               region=settings.region or source_spec.region, streams_endpoint_url=None,
                               balancing=None, s3_path_style=style)


def take_export(client: Any, table: str, settings: Any, savepoint: Any, save: Callable[[], None],
                not_before: float | None, abort: threading.Event | None = None,
                clock: Callable[[], float] = time.time, sleep: Callable[[float], Any] = time.sleep) -> str:
    """The summary of a completed export of ``table`` at ``not_before`` or later (``s3://bucket/key``).

    Resumes from what ``savepoint`` records (``export_arn``, ``export_manifest``) and records each step,
    calling ``save``. ``abort`` set (the change log's capture failed) stops the wait.
    """
    if savepoint.export_manifest:
        return savepoint.export_manifest
    if not savepoint.export_arn:
        savepoint.export_arn = _request(client, table, settings, not_before, clock, sleep)
        save()
    description = _wait(client, savepoint.export_arn, settings.poll_seconds, abort, clock, sleep)
    if description["ExportStatus"] != "COMPLETED":
        arn, savepoint.export_arn = savepoint.export_arn, None
        save()
        raise ExportFailed(
            f"{SETTING}: the export {arn} of {table!r} failed ({description.get('FailureCode', 'no code')}: "
            f"{description.get('FailureMessage', 'no message')}); run again to ask for a new export", table)
    savepoint.export_manifest = f"s3://{description['S3Bucket']}/{description['ExportManifest']}"
    save()
    log.info("export of %s complete: %s items, %s", table, f"{description.get('ItemCount', 0):,}",
             savepoint.export_manifest)
    return savepoint.export_manifest


def _request(client: Any, table: str, settings: Any, not_before: float | None, clock: Callable[[], float],
             sleep: Callable[[float], Any]) -> str:
    """Turn PITR on if needed and ask for the export; its ARN."""
    earliest = _point_in_time_recovery(client, table, clock, sleep)
    at = math.ceil(max(not_before or clock(), earliest or 0.0))
    if at > clock():
        sleep(at - clock())  # the export time may not be in the future
    table_arn = _call(client.describe_table, "DescribeTable", TableName=table)["Table"]["TableArn"]
    request = {"TableArn": table_arn, "ExportTime": datetime.datetime.fromtimestamp(at, datetime.timezone.utc),
               "S3Bucket": settings.bucket, "ExportFormat": FORMAT, "ExportType": "FULL_EXPORT"}
    if settings.prefix:
        request["S3Prefix"] = settings.prefix
    if settings.bucket_owner:
        request["S3BucketOwner"] = settings.bucket_owner
    place = f"{table_arn}@{at}->{settings.bucket}/{settings.prefix}"
    request["ClientToken"] = str(uuid.uuid5(uuid.NAMESPACE_URL, place))  # the same export, if asked again
    exported = _call(client.export_table_to_point_in_time, "ExportTableToPointInTime", **request)
    arn = exported["ExportDescription"]["ExportArn"]
    where = f"s3://{settings.bucket}/{settings.prefix or ''}"
    log.info("export of %s at %s requested: %s, into %s", table, request["ExportTime"].isoformat(), arn, where)
    return arn


def _point_in_time_recovery(client: Any, table: str, clock: Callable[[], float],
                            sleep: Callable[[float], Any]) -> float | None:
    """Enable PITR if it is off, wait until it is on; its earliest restorable time (epoch seconds)."""
    for attempt in range(120):
        found = _call(client.describe_continuous_backups, "DescribeContinuousBackups", TableName=table)
        pitr = found["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        status = pitr.get("PointInTimeRecoveryStatus", "DISABLED")
        if status == "ENABLED":
            earliest = pitr.get("EarliestRestorableDateTime")
            return earliest.timestamp() if isinstance(earliest, datetime.datetime) else None
        if status == "DISABLED" and attempt == 0:
            log.warning("point-in-time recovery is off on %s: enabling it for the export (it is billed by the table's "
                        "size each month; turn it off after the migration if nothing else needs it)", table)
            _call(client.update_continuous_backups, "UpdateContinuousBackups", TableName=table,
                  PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        sleep(1.0)
    raise SourceError(f"{SETTING}: point-in-time recovery of {table!r} did not turn on within 2 minutes", table)


def _wait(client: Any, arn: str, poll: float, abort: threading.Event | None, clock: Callable[[], float],
          sleep: Callable[[float], Any]) -> dict:
    """The export's description once it is no longer IN_PROGRESS."""
    started = clock()
    last_log = 0.0
    while True:
        description = _call(client.describe_export, "DescribeExport", ExportArn=arn)["ExportDescription"]
        if description["ExportStatus"] != "IN_PROGRESS":
            return description
        if abort is not None and abort.is_set():
            raise SourceError(f"{SETTING}: stopped waiting for the export {arn}: the change log's capture failed")
        if clock() - last_log >= max(60.0, poll) or not last_log:
            last_log = clock()
            log.info("export %s: in progress for %s (DynamoDB takes minutes to hours; no read capacity is used)",
                     arn.rpartition("/")[2], clock_time(clock() - started))
        sleep(poll)


def _call(method: Callable[..., dict], action: str, **request: Any) -> dict:
    """One control-plane call; its error names the setting, the action and what AWS said."""
    try:
        return method(**request)
    except Exception as exc:
        code = error_code(exc)
        if code is None:
            raise
        hint = {
            "AccessDeniedException": f"; the migration's identity needs dynamodb:{action}",
            "UnknownOperationException": ": this endpoint has no point-in-time export (DynamoDB Local, Alternator); "
                                         "remove exportSnapshot to copy with Scan",
            "PointInTimeRecoveryUnavailableException": ": point-in-time recovery is not on for the table",
            "ExportConflictException": ": an earlier request with this client token asked for another bucket or "
                                       "prefix; wait for it to end, or change exportSnapshot.prefix",
        }.get(code, "")
        message = getattr(exc, "response", {}).get("Error", {}).get("Message", str(exc))
        raise SourceError(f"{SETTING}: {action} failed with {code} ({message}){hint}",
                          request.get("TableName")) from exc
