"""``source.type: dynamodb-s3-export``: an export in AWS's layout, on S3 (moto's server) and on disk, into DynamoDB.

The export is the hand-written fixture of ``tests/configs/aws-export`` (every type); the items that
arrive are compared with the expectations written out by hand beside it.
"""

from __future__ import annotations

import os

import pytest
import yaml

from devtools import datagen
from migrator.config import parse_config
from migrator.savepoints import SavepointStore, SegmentState, SnapshotSavepoint, savepoint_name
from tests.export_fixture import EXPECTED, EXPORT_ID, SUMMARY_KEY, TABLE_DESCRIPTION, aws_export
from tests.integration.conftest import copy, endpoint
from tests.integration.test_cli import run
from tests.integration.test_s3_paths import BUCKET, s3_server  # noqa: F401 - the fixture


def export_source(manifest_key: str, **settings) -> dict:
    """An export source section; the fixture's table description (pk S, sk N) unless ``settings`` says."""
    return {"type": "dynamodb-s3-export", "manifestKey": manifest_key, "tableDescription": TABLE_DESCRIPTION,
            **settings}


def ddb_target(server, table: str) -> dict:
    return {"type": "dynamodb", "table": table, "endpoint": endpoint(server), "region": "us-east-1",
            "credentials": {"accessKey": "test", "secretKey": "test-secret"}}


def s3_settings(env: dict) -> dict:
    """The export source's own S3 settings (the run's environment names no S3 endpoint)."""
    host, port = env["AWS_ENDPOINT_URL_S3"].rsplit(":", 1)
    return {"bucket": BUCKET, "endpoint": {"host": host, "port": int(port)}, "region": "us-east-1",
            "credentials": {"accessKey": "s3-test", "secretKey": "s3-test-secret"}, "usePathStyleAccess": True}


@pytest.mark.slow
def test_an_aws_export_on_s3_migrates_and_validates_from_the_cli(ddb, table_name, tmp_path, s3_server):  # noqa: F811
    s3, env = s3_server
    _, target = ddb
    root = aws_export(str(tmp_path / "export"))
    prefix = f"nightly/{table_name}"  # not where AWS wrote it: keys are read relative to the summary
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            s3.upload_file(path, BUCKET, f"{prefix}/{os.path.relpath(path, root)}")
    config = tmp_path / "from-export.yaml"
    config.write_text(yaml.safe_dump({
        "source": export_source(f"{prefix}/{SUMMARY_KEY}", **s3_settings(env)),
        "target": ddb_target(target, table_name),
        "savepoints": {"path": str(tmp_path / "sp"), "intervalSeconds": 1}}))
    done = run("run", "--config", str(config))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "segments     : 3 (one per data file)" in done.stdout + done.stderr
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(EXPECTED)
    table = target.client().describe_table(TableName=table_name)["Table"]
    assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert "s3-test-secret" not in done.stdout + done.stderr
    checked = run("validate", "--config", str(config))
    assert checked.returncode == 0 and ": EQUAL" in checked.stdout, checked.stdout[-3000:] + checked.stderr[-3000:]


def test_a_resumed_copy_goes_on_from_the_lines_its_savepoint_counts(ddb, spark, table_name, tmp_path):
    _, target = ddb
    root = aws_export(str(tmp_path / "export"))
    savepoints = str(tmp_path / "sp")
    config = parse_config({"source": export_source(os.path.join(root, SUMMARY_KEY)),
                           "target": ddb_target(target, table_name),
                           "savepoints": {"path": savepoints, "intervalSeconds": 1}})
    # An earlier run created the table, wrote the first two lines of the first file and finished the
    # empty one, then stopped.
    datagen.create_table(target.client(), table_name)
    SavepointStore(savepoints, savepoint_name(EXPORT_ID, table_name)).save(SnapshotSavepoint(
        EXPORT_ID, table_name, 3, segments={0: SegmentState(last_key={"lines": 2}, items=2),
                                            1: SegmentState(done=True)}))
    plan, result = copy(spark, config)
    assert [s.segment for s in plan.segments] == [0, 2] and plan.resumed
    assert (result.items, result.items_this_run) == (7, 5)
    # Only what the savepoint did not count was written this time.
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(EXPECTED[2:])
