"""The export snapshot's control-plane steps against a scripted client: PITR, the request, the wait, resuming."""

from __future__ import annotations

import datetime
import threading

import pytest
from botocore.exceptions import ClientError

from migrator.config import ExportSnapshot
from migrator.errors import SourceError
from migrator.savepoints import SnapshotSavepoint
from migrator.sources.dynamodb.export_snapshot import ExportFailed, take_export

TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/Orders"
EXPORT_ARN = TABLE_ARN + "/export/01764547200000-5f2c9a1e"
SETTINGS = ExportSnapshot.model_validate({"bucket": "exports", "prefix": "mig", "pollSeconds": 5})


def when(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


class Clock:
    def __init__(self, now: float):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class FakeDynamoDB:
    """DynamoDB's control plane as a script: PITR state, exports that finish after ``polls`` looks."""

    def __init__(self, clock: Clock, pitr: bool = True, earliest: float = 0.0, polls: int = 2, outcome="COMPLETED"):
        self.clock, self.pitr, self.earliest, self.polls, self.outcome = clock, pitr, earliest, polls, outcome
        self.requests: list[dict] = []
        self.enabled = 0
        self.described = 0

    def describe_continuous_backups(self, TableName):  # noqa: N803 - boto3's names
        pitr = {"PointInTimeRecoveryStatus": "ENABLED" if self.pitr else "DISABLED"}
        if self.pitr:
            pitr["EarliestRestorableDateTime"] = when(self.earliest)
        return {"ContinuousBackupsDescription": {"PointInTimeRecoveryDescription": pitr}}

    def update_continuous_backups(self, TableName, PointInTimeRecoverySpecification):  # noqa: N803
        self.enabled += 1
        self.pitr, self.earliest = True, self.clock.now + 0.4

    def describe_table(self, TableName):  # noqa: N803
        return {"Table": {"TableArn": TABLE_ARN}}

    def export_table_to_point_in_time(self, **request):
        self.requests.append(request)
        return {"ExportDescription": {"ExportArn": EXPORT_ARN, "ExportStatus": "IN_PROGRESS"}}

    def describe_export(self, ExportArn):  # noqa: N803
        self.described += 1
        status = "IN_PROGRESS" if self.described <= self.polls else self.outcome
        found = {"ExportArn": ExportArn, "ExportStatus": status, "S3Bucket": "exports", "ItemCount": 7,
                 "ExportManifest": "mig/AWSDynamoDB/01764547200000-5f2c9a1e/manifest-summary.json"}
        if status == "FAILED":
            found.update(FailureCode="S3AccessDenied", FailureMessage="Access denied to bucket exports")
        return {"ExportDescription": found}


def savepoint() -> SnapshotSavepoint:
    return SnapshotSavepoint(source_table="Orders", target_table="Orders", total_segments=4)


def run(client, state, clock, not_before=None, abort=None):
    saves = []

    def save():
        saves.append((state.export_arn, state.export_manifest))

    found = take_export(client, "Orders", SETTINGS, state, save, not_before, abort, clock=clock, sleep=clock.sleep)
    return found, saves


def test_an_export_at_the_pin_is_asked_for_waited_on_and_recorded_step_by_step():
    clock = Clock(1_000.0)
    client = FakeDynamoDB(clock, polls=2)
    state = savepoint()
    found, saves = run(client, state, clock, not_before=990.25)
    assert found == "s3://exports/mig/AWSDynamoDB/01764547200000-5f2c9a1e/manifest-summary.json"
    assert saves == [(EXPORT_ARN, None), (EXPORT_ARN, found)]  # the ARN is saved before the wait
    (request,) = client.requests
    assert request["ExportTime"] == when(991)  # the pin, rounded up to the second: never before it
    assert (request["S3Bucket"], request["S3Prefix"], request["ExportFormat"], request["ExportType"]) == (
        "exports", "mig", "DYNAMODB_JSON", "FULL_EXPORT")
    assert clock.slept == [5, 5]  # pollSeconds between looks


def test_pitr_off_is_turned_on_and_the_export_time_waits_for_its_earliest_point():
    clock = Clock(1_000.0)
    client = FakeDynamoDB(clock, pitr=False, polls=0)
    run(client, savepoint(), clock, not_before=999.0)
    assert client.enabled == 1
    assert client.requests[0]["ExportTime"] == when(1_001)  # PITR on at 1000.4, later than the pin: rounded up


def test_the_client_token_is_the_same_for_the_same_export():
    tokens = []
    for _ in range(2):
        clock = Clock(1_000.0)
        client = FakeDynamoDB(clock, polls=0)
        run(client, savepoint(), clock, not_before=990.0)
        tokens.append(client.requests[0]["ClientToken"])
    assert tokens[0] == tokens[1] and len(tokens[0]) == 36


def test_a_rerun_resumes_waiting_on_the_recorded_export_or_reads_the_recorded_manifest():
    clock = Clock(1_000.0)
    client = FakeDynamoDB(clock, polls=1)
    state = savepoint()
    state.export_arn = EXPORT_ARN
    found, _ = run(client, state, clock)
    assert client.requests == [] and found.endswith("manifest-summary.json")
    again = FakeDynamoDB(clock)
    assert run(again, state, clock)[0] == found and again.described == 0


def test_a_failed_export_is_forgotten_and_says_why():
    clock = Clock(1_000.0)
    state = savepoint()
    with pytest.raises(ExportFailed, match="S3AccessDenied: Access denied to bucket exports.*run again"):
        run(FakeDynamoDB(clock, outcome="FAILED"), state, clock)
    assert state.export_arn is None and state.export_manifest is None


def test_a_failed_capture_stops_the_wait():
    clock = Clock(1_000.0)
    abort = threading.Event()
    abort.set()
    with pytest.raises(SourceError, match="capture failed"):
        run(FakeDynamoDB(clock, polls=5), savepoint(), clock, abort=abort)


def test_an_endpoint_without_exports_is_named_with_what_to_do():
    class Local(FakeDynamoDB):
        def describe_continuous_backups(self, TableName):  # noqa: N803
            raise ClientError({"Error": {"Code": "UnknownOperationException", "Message": "no"}},
                              "DescribeContinuousBackups")

    clock = Clock(1_000.0)
    with pytest.raises(SourceError, match="source.exportSnapshot: DescribeContinuousBackups failed with "
                                          "UnknownOperationException .*remove exportSnapshot"):
        run(Local(clock), savepoint(), clock)
