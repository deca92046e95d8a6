"""A run whose configuration, savepoint and validation report live on S3, and its metrics file.

S3 here is moto's S3 server (a real HTTP endpoint in this process; no real S3 is reachable from
these machines); migrator finds it through ``AWS_ENDPOINT_URL_S3``, as it would any S3-compatible
store, and reaches it with the same boto3 calls it makes against AWS.
"""

from __future__ import annotations

import json

import boto3
import pytest
import yaml

from devtools import datagen
from devtools.servers import free_port
from tests.integration.conftest import endpoint
from tests.integration.test_cli import run

BUCKET = "migrations"


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {"AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "s3-test",
           "AWS_SECRET_ACCESS_KEY": "s3-test-secret", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
                          aws_access_key_id="s3-test", aws_secret_access_key="s3-test-secret")
    client.create_bucket(Bucket=BUCKET)
    yield client, env
    server.stop()


@pytest.mark.slow
def test_config_savepoint_and_report_on_s3_with_a_metrics_file(ddb, table_name, tmp_path, s3_server):
    s3, env = s3_server
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.generate_items(600, seed=71)
    datagen.put_items(source.client(), table_name, items)
    prefix = f"s3://{BUCKET}/{table_name}"
    config = {
        "source": {"type": "dynamodb", "table": table_name, "endpoint": endpoint(source), "region": "us-east-1",
                   "credentials": {"accessKey": "AKIATEST", "secretKey": "ddb-secret"}},
        "target": {"type": "dynamodb", "table": table_name, "endpoint": endpoint(target), "region": "us-east-1",
                   "credentials": {"accessKey": "AKIATEST", "secretKey": "ddb-secret"}},
        "savepoints": {"path": prefix, "intervalSeconds": 1},
        "validation": {"reportPath": f"{prefix}/report.json"},
    }
    s3.put_object(Bucket=BUCKET, Key=f"{table_name}/config.yaml", Body=yaml.safe_dump(config).encode())
    metrics = tmp_path / "metrics.jsonl"

    done = run("run", "--config", f"{prefix}/config.yaml", "--metrics-file", str(metrics), env_extra=env)
    assert done.returncode == 0, done.stdout + done.stderr
    saved = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{table_name}/snapshot-{table_name}-to-{table_name}.json")
                       ["Body"].read())
    assert saved["completed_at"] and sum(s["items"] for s in saved["segments"].values()) == len(items)

    checked = run("validate", "--config", f"s3a://{BUCKET}/{table_name}/config.yaml", "--metrics-file", str(metrics),
                  env_extra=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"report: {prefix}/report.json" in checked.stdout
    report = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{table_name}/report.json")["Body"].read())
    assert report["counts"]["keys"] == len(items) and report["remaining"] == 0

    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    summaries = {r["job"]: r for r in records if r["event"] == "summary"}
    assert summaries["snapshot"]["items_written"] == len(items)
    assert summaries["validate"]["keys"] == len(items) and summaries["validate"]["items_read"] == 2 * len(items)
    assert len({r["run"] for r in records}) == 2

    missing = run("run", "--config", f"{prefix}/nope.yaml", env_extra=env)
    assert missing.returncode == 2 and f"{prefix}/nope.yaml" in missing.stderr and "no such file" in missing.stderr
