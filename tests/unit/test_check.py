"""The pure parts of ``migrator check``: what an answer means, the snapshot's estimate, the policy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from migrator.config import parse_config
from migrator.jobs.check import RETENTION_SECONDS, estimate_finding, snapshot_seconds
from migrator.permissions import policy, required
from migrator.preflight import Prober, outcome
from migrator.mongo_access import missing_actions
from migrator.targets.mongodb.preflight import needed_actions
from migrator.throttle import ThroughputCap


def client_error(code, message="m", status=400):
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize("exc, kind", [
    (None, "allowed"),
    (client_error("ValidationException", "Nothing to update"), "allowed"),
    (client_error("ResourceNotFoundException"), "allowed"),
    (client_error("AccessDeniedException"), "denied"),
    # moto's IAM answers a JSON-protocol call with an XML body: botocore leaves the code as the status.
    (client_error("403", "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>no</Message>"
                         "</Error></Errors></ErrorResponse>", 403), "denied"),
    (client_error("UnrecognizedClientException"), "rejected"),
    (client_error("UnknownOperationException"), "unsupported"),
    (client_error("InternalServerError"), "unknown"),
    (NoCredentialsError(), "no-credentials"),
    (EndpointConnectionError(endpoint_url="http://x"), "unreachable"),
])
def test_an_answer_says_whether_the_action_is_allowed(exc, kind):
    assert outcome(exc) == kind


def test_a_prober_names_the_denied_action_and_stops_after_refused_credentials():
    prober = Prober("source", "AWS us-east-1")

    def fail(exc):
        def call():
            raise exc
        return call

    prober.probe("dynamodb:Scan", "orders", fail(client_error("AccessDeniedException", "User u is not authorized")))
    assert not prober.findings[0].ok and prober.findings[0].text.startswith(
        "dynamodb:Scan on orders is denied: User u is not authorized. Allow it (`migrator policy")
    prober.probe("dynamodb:DescribeTable", "orders", fail(client_error("ResourceNotFoundException")),
                 on_missing="source table 'orders' not found")
    assert prober.missing and prober.findings[1].text == "source table 'orders' not found"
    prober.probe("dynamodb:GetRecords", "orders", fail(client_error("InvalidSignatureException")))
    assert prober.stopped and "refuses the credentials (InvalidSignatureException" in prober.findings[2].text
    assert prober.probe("dynamodb:Scan", "orders", lambda: {"Items": []}) is None and len(prober.findings) == 3
    assert prober.findings[2].line().startswith("  PROBLEM source   AWS us-east-1 refuses")


def test_the_snapshot_takes_the_slower_of_reading_and_writing_at_their_caps():
    gib = 2 ** 30
    # 1 GiB of 1 KiB items: reading costs 0.5 RCU per 4 KiB = 131,072 RCU; writing 1 WCU per item = 1,048,576.
    assert snapshot_seconds(2 ** 20, gib, 1000, None) == pytest.approx(131.072)
    assert snapshot_seconds(2 ** 20, gib, 1000, 1000) == pytest.approx(1048.576)
    assert snapshot_seconds(2 ** 20, gib, None, None) is None


def plan(items, size, read, write, captures, stream=True, done=0):
    config = SimpleNamespace(source=SimpleNamespace(export_snapshot=None), target=SimpleNamespace(stream_changes=stream))
    return SimpleNamespace(config=config, source=SimpleNamespace(item_count=items, size_bytes=size),
                           segments=list(range(10 - done)), total_segments=10, captures=captures,
                           read_cap=ThroughputCap(read, read, "configured"), write_cap=ThroughputCap(write, write, "x"))


def test_a_snapshot_longer_than_the_stream_retention_needs_the_change_log():
    size = int(RETENTION_SECONDS * 2 * 4096 * 2)  # two days at 1 RCU/s
    with_log = estimate_finding(plan(1000, size, 1.0, None, captures=True))
    assert with_log.ok and "about 48:00:00: longer than the stream's 24-hour retention; the change log" in with_log.text
    without = estimate_finding(plan(1000, size, 1.0, None, captures=False))
    assert not without.ok and "keep streaming.changeLog: true (the default)" in without.text
    assert estimate_finding(plan(1000, size, 1.0, None, captures=False, stream=False)).ok
    rest = estimate_finding(plan(1000, size, 1.0, None, captures=False, done=6))  # resumed: 4 segments of 10 left
    assert rest.ok and "~400 items" in rest.text and "about 19:12:00, within the stream's 24-hour" in rest.text


def test_mongodb_privileges_must_cover_the_collection():
    on_db = [{"resource": {"db": "shop", "collection": ""}, "actions": list(needed_actions("error"))}]
    assert missing_actions(on_db, "shop", "orders", needed_actions("error")) == []
    assert missing_actions(on_db, "other", "orders", needed_actions("error")) == list(needed_actions("error"))
    assert missing_actions(on_db, "shop", "orders", needed_actions("drop")) == ["dropCollection"]
    read_only = [{"resource": {"db": "shop", "collection": "orders"}, "actions": ["find"]}]
    assert missing_actions(read_only, "shop", "orders", ("find", "insert")) == ["insert"]
    assert missing_actions([{"resource": {"anyResource": True}, "actions": ["insert"]}], "a", "b", ("insert",)) == []


def test_the_policy_has_a_statement_per_resource_and_folds_locations_inside_savepoints():
    config = parse_config({
        "source": {"type": "dynamodb", "table": "orders", "region": "us-east-1"},
        "target": {"type": "dynamodb", "table": "orders", "region": "eu-west-1", "streamChanges": True},
        "savepoints": {"path": "s3://bucket/migrator"}, "deadLetter": {"path": "s3://other/dead"}})
    document = policy(required(config))
    by_resource = {s["Resource"]: s for s in document["Statement"]}
    assert by_resource["arn:aws:dynamodb:us-east-1:*:table/orders/stream/*"]["Action"] == [
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
    assert "dynamodb:BatchWriteItem" in by_resource["arn:aws:dynamodb:eu-west-1:*:table/orders"]["Action"]
    assert "dynamodb:BatchWriteItem" not in by_resource["arn:aws:dynamodb:us-east-1:*:table/orders"]["Action"]
    # the checkpoint and the change log live under savepoints.path: its statement covers them
    assert set(by_resource) == {"arn:aws:dynamodb:us-east-1:*:table/orders",
                                "arn:aws:dynamodb:us-east-1:*:table/orders/stream/*",
                                "arn:aws:dynamodb:eu-west-1:*:table/orders", "arn:aws:s3:::bucket/migrator/*",
                                "arn:aws:s3:::bucket", "arn:aws:s3:::other/dead/*", "arn:aws:s3:::other"}
    assert by_resource["arn:aws:s3:::bucket"] == {"Effect": "Allow", "Action": ["s3:ListBucket"],
                                                  "Resource": "arn:aws:s3:::bucket",
                                                  "Condition": {"StringLike": {"s3:prefix": ["migrator/*"]}}}
    assert {p.side for p in required(config, "target")} == {"target"}


def test_the_readme_policy_is_what_migrator_policy_prints_for_its_configuration():
    import json
    import os
    import re

    import yaml

    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
        text = f.read()
    section = text[text.index("## A first migration on AWS"):text.index("### When `check` fails")]
    config = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))
    printed = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))
    assert printed == policy(required(parse_config(config)))


def test_dynamodbs_own_verdict_on_a_filter_is_a_finding():
    from migrator.conditions import parse_filter
    from migrator.sources.dynamodb.preflight import _filter_probe

    item_filter = parse_filter("status = :v", values={":v": {"S": "x"}})
    answers = iter([client_error("ValidationException", "Attribute name is a reserved keyword; reserved keyword: "
                                 "status"), client_error("ProvisionedThroughputExceededException"), None])
    sent = []

    def scan(**params):
        sent.append(params)
        answer = next(answers)
        if answer is not None:
            raise answer
        return {"Items": []}

    prober = Prober("source", "AWS us-east-1")
    for _ in range(3):
        _filter_probe(prober, SimpleNamespace(scan=scan), "orders", item_filter)
    assert sent[0] == {"TableName": "orders", "Limit": 1, "FilterExpression": "status = :v",
                       "ExpressionAttributeValues": {":v": {"S": "x"}}}
    refused, unknown, accepted = prober.findings
    assert not refused.ok and refused.text.startswith("source.filterExpression: DynamoDB refuses it (Attribute name "
                                                      "is a reserved keyword; reserved keyword: status)")
    assert unknown.ok and unknown.warning and "not checked (ProvisionedThroughputExceededException" in unknown.text
    assert accepted.ok and accepted.text == "source.filterExpression: DynamoDB accepts it on orders"
