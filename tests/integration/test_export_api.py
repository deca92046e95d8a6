"""``devtools/export_api.py``: point-in-time recovery and table exports in front of DynamoDB Local.

The export is read back from moto's S3 server with boto3, gzip and json only (nothing of migrator's) and compared
with a raw HTTP Scan of the table, so what is checked is the simulator against AWS's documented layout.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import json
import re
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devtools import datagen
from devtools.export_api import ExportAPI
from tests.conftest import eventually
from tests.integration.test_s3_paths import BUCKET, s3_server  # noqa: F401 - the fixture

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
EXPORT_ID = re.compile(r"^\d{14}-[0-9a-f]{8}$")
DATA_FILE = re.compile(r"^[a-z2-7]{26}\.json\.gz$")


@pytest.fixture
def export_api(ddb, s3_server):
    """``make(**options) -> (ExportAPI, DynamoDB client through it)``; every proxy made is stopped afterwards."""
    source, _ = ddb
    _, env = s3_server
    started: list[ExportAPI] = []

    def make(**options: Any) -> tuple[ExportAPI, Any]:
        api = ExportAPI(source.endpoint, env["AWS_ENDPOINT_URL_S3"], **options).start()
        started.append(api)
        return api, boto3.client("dynamodb", endpoint_url=api.endpoint, region_name="us-east-1",
                                 aws_access_key_id="local", aws_secret_access_key="local")

    yield make
    for api in started:
        api.stop()


def error_code(call, *args: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call(*args, **kwargs)
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def raw_scan(port: int, table: str) -> tuple[list[dict[str, Any]], int]:
    """Every item as DynamoDB Local's JSON (consistent Scan, by HTTP), and the number of pages it took.

    DynamoDB Local wants an Authorization header but checks no signature.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"X-Amz-Target": "DynamoDB_20120810.Scan", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, "
                                "SignedHeaders=host, Signature=0"}
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    items, pages = [], 0
    try:
        while True:
            conn.request("POST", "/", body=json.dumps(request), headers=headers)
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200, body
            page, pages = json.loads(body), pages + 1
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items, pages
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    finally:
        conn.close()


def canonical(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def md5_base64(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def finished(client: Any, arn: str, timeout: float = 15.0) -> dict[str, Any]:
    """The export's description once it is no longer IN_PROGRESS."""

    def check() -> dict[str, Any]:
        description = client.describe_export(ExportArn=arn)["ExportDescription"]
        assert description["ExportStatus"] != "IN_PROGRESS", description
        return description

    return eventually(check, timeout=timeout, interval=0.1)


def keys_under(s3: Any, prefix: str) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])}


def read_export(s3: Any, summary_key: str) -> tuple[dict, list[dict], list[dict]]:
    """(summary, manifest-files entries, items) of an export, each checksum checked on the way."""

    def get(key: str) -> bytes:
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    summary_body = get(summary_key)
    assert get(summary_key.removesuffix(".json") + ".md5").decode().strip() == md5_base64(summary_body)
    summary = json.loads(summary_body)
    files_body = get(summary["manifestFilesS3Key"])
    assert get(summary["manifestFilesS3Key"].removesuffix(".json") + ".md5").decode().strip() == md5_base64(files_body)
    entries = [json.loads(line) for line in files_body.decode().splitlines()]
    items = []
    for entry in entries:
        body = get(entry["dataFileS3Key"])
        assert entry["md5Checksum"] == md5_base64(body)
        assert entry["etag"] == s3.head_object(Bucket=BUCKET, Key=entry["dataFileS3Key"])["ETag"].strip('"')
        lines = gzip.decompress(body).decode().splitlines()
        assert len(lines) == entry["itemCount"]
        items.extend(json.loads(line)["Item"] for line in lines)
    return summary, entries, items


def enable_pitr(client: Any, table: str, enabled: bool = True) -> dict[str, Any]:
    return client.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": enabled})["ContinuousBackupsDescription"]


def test_export_is_refused_until_point_in_time_recovery_is_enabled(ddb, table_name, export_api):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(2, seed=3))
    api, client = export_api()
    arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
    assert error_code(client.describe_table, TableName="missing_table")[0] == "ResourceNotFoundException"

    backups = client.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
    assert backups["ContinuousBackupsStatus"] == "ENABLED"
    assert backups["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}
    export = client.export_table_to_point_in_time
    assert error_code(export, TableArn=arn, S3Bucket=BUCKET)[0] == "PointInTimeRecoveryUnavailableException"

    before = time.time()
    enabled = enable_pitr(client, table_name)["PointInTimeRecoveryDescription"]
    assert enabled["PointInTimeRecoveryStatus"] == "ENABLED"
    since = enabled["EarliestRestorableDateTime"].timestamp()
    assert before - 1 <= since <= time.time() + 1
    described = client.describe_continuous_backups(TableName=table_name)["ContinuousBackupsDescription"]
    pitr = described["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED" and pitr["EarliestRestorableDateTime"].timestamp() == since
    assert pitr["LatestRestorableDateTime"] >= pitr["EarliestRestorableDateTime"]

    assert error_code(export, TableArn=arn, S3Bucket=BUCKET, ExportTime=since - 60)[0] == "InvalidExportTimeException"
    assert error_code(export, TableArn=arn, S3Bucket=BUCKET, ExportTime=time.time() + 60)[0] == \
        "InvalidExportTimeException"
    code, message = error_code(export, TableArn=arn, S3Bucket=BUCKET, ExportFormat="ION")
    assert code == "ValidationException" and "DYNAMODB_JSON" in message
    assert error_code(export, TableArn=arn, S3Bucket=BUCKET, ExportType="INCREMENTAL_EXPORT")[0] == \
        "ValidationException"
    missing = arn.rpartition("/")[0] + "/missing_table"
    assert error_code(export, TableArn=missing, S3Bucket=BUCKET)[0] == "TableNotFoundException"
    assert error_code(client.describe_continuous_backups, TableName="missing_table")[0] == "TableNotFoundException"
    assert error_code(client.describe_export, ExportArn=f"{arn}/export/01700000000000-0badf00d")[0] == \
        "ExportNotFoundException"

    assert enable_pitr(client, table_name, enabled=False)["PointInTimeRecoveryDescription"] == {
        "PointInTimeRecoveryStatus": "DISABLED"}
    assert error_code(export, TableArn=arn, S3Bucket=BUCKET)[0] == "PointInTimeRecoveryUnavailableException"
    assert client.list_exports(TableArn=arn)["ExportSummaries"] == []
    assert api.calls["ExportTableToPointInTime"] == 7 and api.calls["UpdateContinuousBackups"] == 2
    assert api.calls["DescribeContinuousBackups"] == 3 and api.calls["DescribeTable"] == 2


def test_an_export_is_in_progress_then_holds_every_item_in_awss_layout(ddb, table_name, export_api, s3_server):
    source, _ = ddb
    s3, _ = s3_server
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name,
                      datagen.all_types_items() + datagen.generate_items(150, seed=5, sizes=(6_000,)))
    expected, pages = raw_scan(source.port, table_name)
    assert pages > 1  # the export has to follow LastEvaluatedKey to be complete
    api, client = export_api(delay=2.0, files=3)
    arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
    enable_pitr(client, table_name)
    prefix = f"exports/{table_name}"

    started = client.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix,
                                                   ExportTime=time.time())["ExportDescription"]
    export_id = started["ExportArn"].rpartition("/")[2]
    assert started["ExportArn"] == f"{arn}/export/{export_id}" and EXPORT_ID.match(export_id)
    assert started["ExportStatus"] == "IN_PROGRESS" and started["ExportFormat"] == "DYNAMODB_JSON"
    assert (started["S3Bucket"], started["S3Prefix"], started["TableArn"]) == (BUCKET, prefix, arn)
    assert started["ClientToken"] and started["TableId"] and "ExportType" not in started  # AWS leaves it out
    folder = f"{prefix}/AWSDynamoDB/{export_id}"
    assert f"{folder}/manifest-summary.json" not in keys_under(s3, prefix)
    assert client.describe_export(ExportArn=started["ExportArn"])["ExportDescription"]["ExportStatus"] == "IN_PROGRESS"

    done = finished(client, started["ExportArn"])
    assert done["ExportStatus"] == "COMPLETED", done
    assert done["ExportManifest"] == f"{folder}/manifest-summary.json" and done["ItemCount"] == len(expected)
    assert done["EndTime"] >= done["StartTime"] and done["BilledSizeBytes"] > 0

    summary, entries, items = read_export(s3, done["ExportManifest"])
    assert canonical(items) == canonical(expected)
    assert len(entries) == 3 and sum(e["itemCount"] for e in entries) == len(expected)
    data_keys = {e["dataFileS3Key"] for e in entries}
    assert all(k.startswith(f"{folder}/data/") and DATA_FILE.match(k.rpartition("/")[2]) for k in data_keys)
    assert all(not e["etag"].endswith(e["md5Checksum"]) and e["etag"].endswith("-1") for e in entries)
    assert keys_under(s3, prefix) == data_keys | {f"{folder}/{name}" for name in (
        "_started", "manifest-files.json", "manifest-files.md5", "manifest-summary.json", "manifest-summary.md5")}
    assert summary == {
        "version": "2020-06-30", "exportArn": started["ExportArn"], "startTime": summary["startTime"],
        "endTime": summary["endTime"], "tableArn": arn, "tableId": started["TableId"],
        "exportTime": summary["exportTime"], "s3Bucket": BUCKET, "s3Prefix": prefix, "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None, "manifestFilesS3Key": f"{folder}/manifest-files.json",
        "billedSizeBytes": done["BilledSizeBytes"], "itemCount": len(expected), "outputFormat": "DYNAMODB_JSON",
        "exportType": "FULL_EXPORT"}
    assert all(ISO.match(summary[k]) for k in ("startTime", "endTime", "exportTime"))
    assert list(summary) == ["version", "exportArn", "startTime", "endTime", "tableArn", "tableId", "exportTime",
                             "s3Bucket", "s3Prefix", "s3SseAlgorithm", "s3SseKmsKeyId", "manifestFilesS3Key",
                             "billedSizeBytes", "itemCount", "outputFormat", "exportType"]

    assert client.list_exports(TableArn=arn)["ExportSummaries"] == [
        {"ExportArn": started["ExportArn"], "ExportStatus": "COMPLETED", "ExportType": "FULL_EXPORT"}]
    assert api.calls["Scan"] == 0  # the export read the table itself; no client scanned through the proxy
    assert api.calls["ExportTableToPointInTime"] == 1 and api.calls["DescribeExport"] >= 2


def test_a_client_token_makes_an_export_idempotent(ddb, table_name, export_api, s3_server):
    source, _ = ddb
    s3, _ = s3_server
    datagen.create_table(source.client(), table_name, hash_only=True)
    datagen.put_items(source.client(), table_name, datagen.generate_items(2, seed=9, hash_only=True))
    api, client = export_api(files=4)
    arn = client.describe_table(TableName=table_name)["Table"]["TableArn"]
    enable_pitr(client, table_name)
    token, prefix = str(uuid.uuid4()), f"idempotent/{table_name}"
    export = client.export_table_to_point_in_time

    first = export(TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix, ClientToken=token)["ExportDescription"]
    assert first["ClientToken"] == token
    done = finished(client, first["ExportArn"])
    again = export(TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix, ClientToken=token)["ExportDescription"]
    assert again == done  # the same export, as it is now
    code, message = error_code(export, TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix + "-other", ClientToken=token)
    assert code == "ExportConflictException" and "Duplicate request" in message
    other = export(TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix)["ExportDescription"]  # boto3 makes a new token
    assert other["ExportArn"] != first["ExportArn"] and other["ClientToken"] != token
    finished(client, other["ExportArn"])

    listed = client.list_exports(TableArn=arn, MaxResults=1)
    rest = client.list_exports(TableArn=arn, MaxResults=1, NextToken=listed["NextToken"])
    assert sorted(s["ExportArn"] for s in listed["ExportSummaries"] + rest["ExportSummaries"]) == sorted(
        [first["ExportArn"], other["ExportArn"]]) and "NextToken" not in rest
    _, entries, items = read_export(s3, done["ExportManifest"])
    assert [e["itemCount"] for e in entries].count(0) == 2  # 2 items in 4 files: empty files, as AWS's can be
    assert canonical(items) == canonical(raw_scan(source.port, table_name)[0])
    assert api.calls["ExportTableToPointInTime"] == 4


def test_a_failed_export_says_why_and_writes_no_manifest(ddb, table_name, export_api, s3_server):
    source, _ = ddb
    s3, _ = s3_server
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(5, seed=4))
    _, failing = export_api(fail="simulated outage")
    arn = failing.describe_table(TableName=table_name)["Table"]["TableArn"]
    enable_pitr(failing, table_name)
    prefix = f"failed/{table_name}"

    started = failing.export_table_to_point_in_time(TableArn=arn, S3Bucket=BUCKET, S3Prefix=prefix)
    done = finished(failing, started["ExportDescription"]["ExportArn"])
    assert (done["ExportStatus"], done["FailureCode"], done["FailureMessage"]) == ("FAILED", "UNKNOWN",
                                                                                  "simulated outage")
    assert "ExportManifest" not in done and "EndTime" in done and keys_under(s3, prefix) == set()
    assert failing.list_exports(TableArn=arn)["ExportSummaries"][0]["ExportStatus"] == "FAILED"

    _, client = export_api()
    enable_pitr(client, table_name)
    started = client.export_table_to_point_in_time(TableArn=arn, S3Bucket="no-such-bucket")["ExportDescription"]
    done = finished(client, started["ExportArn"])
    assert (done["ExportStatus"], done["FailureCode"]) == ("FAILED", "S3NoSuchBucket")
    assert "bucket does not exist" in done["FailureMessage"]
