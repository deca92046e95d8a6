"""``migrator check`` and the check before ``run``: against DynamoDB Local, the MongoDB-wire server, and
moto's server with IAM enforced (a user per test, its policy missing one action in turn)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from types import SimpleNamespace

import boto3
import pytest

from devtools import datagen
from devtools.servers import free_port, stop_process
from migrator.config import load_config, parse_config
from migrator.jobs.check import run_check
from migrator.permissions import policy, required
from tests.conftest import eventually
from tests.integration.conftest import mongo_config
from tests.integration.test_cli import run, write_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_iam():
    """moto's server in a process of its own (IAM enforcement is process-wide), auth off until a test
    turns it on with :func:`enforce`."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    eventually(lambda: answers(url), timeout=60)
    admin = {"endpoint_url": url, "region_name": "us-east-1", "aws_access_key_id": "admin",
             "aws_secret_access_key": "admin"}
    ddb = boto3.client("dynamodb", **admin)
    key = {"KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
           "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}
    ddb.create_table(TableName="streamed", StreamSpecification={"StreamEnabled": True,
                                                               "StreamViewType": "NEW_AND_OLD_IMAGES"}, **key)
    ddb.create_table(TableName="streamed-copy", **key)
    ddb.create_table(TableName="expiring", **key)
    ddb.update_time_to_live(TableName="expiring", TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    ddb.put_item(TableName="streamed", Item={"pk": {"S": "a"}})
    try:
        yield url, boto3.client("iam", **admin), ddb
    finally:
        stop_process(proc)


def answers(url: str) -> None:
    try:
        urllib.request.urlopen(url + "/moto-api/data.json", timeout=2).read()
    except OSError as exc:
        raise AssertionError(f"moto at {url}: {exc}") from exc


def enforce(url: str, on: bool) -> None:
    request = urllib.request.Request(url + "/moto-api/reset-auth", data=b"0" if on else b"inf", method="POST",
                                     headers={"Content-Type": "text/plain"})
    urllib.request.urlopen(request, timeout=10).read()


def user_with(iam, url: str, name: str, actions: list[str]) -> dict:
    """An IAM user allowed ``actions`` on every resource; its access key."""
    enforce(url, False)
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="migrator", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"accessKey": key["AccessKeyId"], "secretKey": key["SecretAccessKey"]}


def moto_config(url: str, source: str, target: str, credentials: dict, stream: bool):
    port = int(url.rsplit(":", 1)[1])
    side = {"endpoint": {"host": "http://127.0.0.1", "port": port}, "region": "us-east-1", "credentials": credentials}
    return parse_config({"source": {"type": "dynamodb", "table": source, **side},
                         "target": {"type": "dynamodb", "table": target, "streamChanges": stream, **side},
                         "streaming": {"checkpointLocation": "/tmp/migrator-check-never-written"}})


def check_as(moto_iam, name: str, actions: list[str], source: str, target: str, stream: bool):
    url, iam, _ = moto_iam
    config = moto_config(url, source, target, user_with(iam, url, name, actions), stream)
    enforce(url, True)
    try:
        return run_check(config, cores=2)
    finally:
        enforce(url, False)


# What check tries in each case: every action the job's policy grants, but those only validate uses
# (BatchGetItem, the target's Scan) and those the case does not need (the stream exists: no UpdateTable).
CASES = {
    "stream on, target exists": ("streamed", "streamed-copy", True, [
        "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:Scan", "dynamodb:DescribeStream",
        "dynamodb:GetShardIterator", "dynamodb:GetRecords", "dynamodb:BatchWriteItem"]),
    "stream off, TTL, target missing": ("expiring", "expiring-copy", True, [
        "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:Scan", "dynamodb:UpdateTable",
        "dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:CreateTable", "dynamodb:UpdateTimeToLive",
        "dynamodb:BatchWriteItem"]),
}


@pytest.mark.parametrize("case", CASES)
def test_each_missing_permission_is_named_and_the_generated_policy_passes(moto_iam, case):
    source, target, stream, probed = CASES[case]
    url, _, ddb = moto_iam
    config = moto_config(url, source, target, {"accessKey": "x", "secretKey": "y"}, stream)
    tables = ddb.list_tables()["TableNames"]
    granted = sorted({p.action for p in required(config)})
    assert set(probed) <= set(granted)  # the policy `migrator policy` prints covers every probe
    slug = case.replace(" ", "").replace(",", "")
    report = check_as(moto_iam, f"all-{slug}", granted, source, target, stream)
    assert not report.problems, "\n".join(report.lines())
    assert report.plan is not None and "check: passed" in report.lines()[-1]
    for action in probed:
        report = check_as(moto_iam, f"no-{action.split(':')[1]}-{slug}", [a for a in granted if a != action],
                          source, target, stream)
        denied = [f.text for f in report.problems if f.text.startswith(f"{action} on ")]
        assert denied and "is denied" in denied[0] and "migrator policy --config FILE" in denied[0], \
            "\n".join(report.lines())
    assert ddb.list_tables()["TableNames"] == tables  # nothing was created


def test_refused_credentials_and_an_unreachable_endpoint_stop_each_side_at_once(moto_iam, tmp_path):
    url, _, _ = moto_iam
    enforce(url, True)
    try:
        report = run_check(moto_config(url, "streamed", "streamed-copy", {"accessKey": "AKIANOSUCHKEY",
                                                                           "secretKey": "nope"}, True), cores=2)
    finally:
        enforce(url, False)
    texts = [f"{f.subject}: {f.text}" for f in report.findings]
    assert [t for t in texts if "refuses the credentials (InvalidClientTokenId" in t] == [
        t for t in texts if "refuses" in t] and len([t for t in texts if "refuses" in t]) == 2, texts
    assert "nope" not in "\n".join(report.lines())
    closed = parse_config({"source": {"type": "dynamodb", "table": "streamed", "region": "us-east-1",
                                      "endpoint": {"host": "http://127.0.0.1", "port": free_port()},
                                      "credentials": {"accessKey": "a", "secretKey": "b"}},
                           "target": {"type": "dynamodb-s3-export", "path": str(tmp_path / "file" / "export")}})
    (tmp_path / "file").write_text("a file where a folder should be")
    report = run_check(closed, cores=2)
    assert [f.subject for f in report.problems] == ["source", "target"], report.lines()
    assert report.problems[0].text.startswith("cannot reach http://127.0.0.1:")
    assert "check source.endpoint / source.region" in report.problems[0].text
    assert f"target.path: {tmp_path / 'file' / 'export'}: {tmp_path / 'file'} is not a writable folder" in \
        report.problems[1].text


def test_check_on_a_healthy_setup_exits_0_and_a_missing_table_exits_1(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name, StreamSpecification={"StreamEnabled": True,
                                                                          "StreamViewType": "NEW_IMAGE"})
    datagen.put_items(source.client(), table_name, datagen.generate_items(20, seed=4))
    config = write_config(tmp_path / "c.yaml", ddb, table_name, target={"streamChanges": True},
                          source={"readThroughput": 100}, savepoints={"path": str(tmp_path / "sp")})
    done = run("check", "--config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in ("ok      source   credentials from source.credentials",
                 f"ok      source   dynamodb:GetRecords on {table_name}/stream/",
                 f"ok      target   dynamodb:CreateTable on {table_name} (the target is missing",
                 f"ok      storage  savepoints.path: {tmp_path / 'sp'} (created under {tmp_path})",
                 "ok      snapshot ~20 items, 0.1 MiB to copy; at the caps (read 50 RCU/s) about 0:00:00, within the "
                 "stream's 24-hour retention", "check: passed ("):
        assert line in out, out
    assert not (tmp_path / "sp").exists() and table_name not in ddb[1].client().list_tables()["TableNames"]
    missing = run("check", "--config", write_config(tmp_path / "m.yaml", ddb, "no_such_table"))
    assert missing.returncode == 1
    assert "PROBLEM source   source table 'no_such_table' not found at" in missing.stdout
    assert "check: 1 problem: the migration cannot start" in missing.stdout


def test_run_stops_on_what_check_finds_before_writing(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    (tmp_path / "file").write_text("a file where a folder should be")
    config = write_config(tmp_path / "c.yaml", ddb, table_name, savepoints={"path": str(tmp_path / "file" / "sp")})
    done = run("run", "--config", config)
    assert done.returncode == 2
    assert f"migrator: error: storage: savepoints.path: {tmp_path / 'file' / 'sp'}" in done.stderr
    assert "(found by the check before the run; --no-check skips it)" in done.stderr
    assert table_name not in target.client().list_tables()["TableNames"]


def test_check_of_a_mongodb_target_reports_the_server_and_its_users(ddb, mongo, table_name):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    report = run_check(mongo_config(ddb, mongo, table_name), cores=2)
    assert not report.problems, report.lines()
    assert any(f.subject == "target" and "answers; no user authenticated" in f.text for f in report.findings)
    closed = mongo_config(ddb, SimpleNamespace(uri=f"mongodb://127.0.0.1:{free_port()}"), table_name)
    report = run_check(closed, cores=2)
    assert [f.subject for f in report.problems] == ["target"] and "cannot reach mongodb://127.0.0.1:" in \
        report.problems[0].text


def test_policy_prints_what_the_job_needs(ddb, table_name, tmp_path):
    config = write_config(tmp_path / "c.yaml", ddb, table_name, target={"streamChanges": True, "region": "eu-west-1"},
                          savepoints={"path": "s3://bucket/migrator"})
    done = run("policy", "--config", config)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document == policy(required(load_config(config)))
    resources = {s["Resource"] for s in document["Statement"]}
    assert {f"arn:aws:dynamodb:us-east-1:*:table/{table_name}", f"arn:aws:dynamodb:us-east-1:*:table/{table_name}/stream/*",
            f"arn:aws:dynamodb:eu-west-1:*:table/{table_name}", "arn:aws:s3:::bucket/migrator/*",
            "arn:aws:s3:::bucket"} == resources
    only = json.loads(run("policy", "--config", config, "--side", "target").stdout)
    assert {s["Resource"] for s in only["Statement"]} == {f"arn:aws:dynamodb:eu-west-1:*:table/{table_name}"}

