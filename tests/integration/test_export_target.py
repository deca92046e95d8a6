"""``target.type: dynamodb-s3-export``: a table written as DynamoDB's export layout, locally and on S3.

The files are read back here with nothing of migrator's (gzip, json and base64), as ImportTable or
another tool would read them, so that the layout itself is what is checked.
"""

from __future__ import annotations

import base64
import gzip
import json
import os

import yaml

from devtools import datagen
from migrator.config import parse_config
from migrator.errors import TargetError
from tests.integration.conftest import copy, endpoint
from tests.integration.test_cli import run
from tests.integration.test_export_source import export_source, s3_settings
from tests.integration.test_s3_paths import BUCKET, s3_server  # noqa: F401 - the fixture

import pytest


def decoded(value: dict) -> dict:
    """One DynamoDB JSON value in boto3's form (binary as bytes), decoded independently of migrator."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": {k: decoded(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [decoded(v) for v in inner]}
    return {kind: inner}


def export_items(read, folder: str) -> tuple[dict, list[dict]]:
    """The summary and every item of an export, through its manifests; ``read(relative key) -> bytes``."""
    summary = json.loads(read(f"{folder}/manifest-summary.json"))
    assert (summary["version"], summary["outputFormat"], summary["exportType"]) == (
        "2020-06-30", "DYNAMODB_JSON", "FULL_EXPORT")
    entries = [json.loads(line) for line in read(f"{folder}/{summary['manifestFilesS3Key']}").decode().splitlines()]
    items = []
    for entry in entries:
        lines = gzip.decompress(read(f"{folder}/{entry['dataFileS3Key']}")).decode().splitlines()
        assert len(lines) == entry["itemCount"] > 0
        items.extend({k: decoded(v) for k, v in json.loads(line)["Item"].items()} for line in lines)
    assert summary["itemCount"] == len(items)
    return summary, items


def local_reader(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def export_config(ddb, table: str, path: str, **sections) -> dict:
    source, _ = ddb
    return {"source": {"type": "dynamodb", "table": table, "endpoint": endpoint(source), "region": "us-east-1",
                       "credentials": {"accessKey": "test", "secretKey": "test-secret"}, **sections.pop("source", {})},
            "target": {"type": "dynamodb-s3-export", "path": path}, **sections}


def test_every_type_arrives_in_the_export_and_it_validates(ddb, spark, table_name, tmp_path):
    from migrator.jobs.validate import run_validation

    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.all_types_items() + datagen.generate_items(400, seed=151)
    datagen.put_items(source.client(), table_name, items)
    folder = str(tmp_path / "export")
    config = parse_config(export_config(ddb, table_name, folder, source={"scanSegments": 3}))
    plan, result = copy(spark, config)
    assert result.items == len(items)
    summary, exported = export_items(local_reader, folder)
    assert summary["tableKeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                         {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert datagen.by_key(exported) == datagen.by_key(datagen.scan_all(source.client(), table_name))
    assert sorted(os.listdir(os.path.join(folder, "data"))) == ["00000.json.gz", "00001.json.gz", "00002.json.gz"]

    assert run_validation(spark, config, cores=2).remaining == 0
    # One item gone from a data file: the validator sees it missing (an export names no attribute).
    first = os.path.join(folder, "data", "00000.json.gz")
    lines = gzip.decompress(local_reader(first)).splitlines(keepends=True)
    with open(first, "wb") as f:
        f.write(gzip.compress(b"".join(lines[1:])))
    found = run_validation(spark, config, cores=2)
    assert (found.counts["missing"], found.counts["extra"], found.counts["different"]) == (1, 0, 0)

    # A finished export is never written over.
    again = parse_config(export_config(ddb, table_name, folder))
    with pytest.raises(TargetError, match="already holds a finished export"):
        copy(spark, again)


def test_a_resumed_export_lists_the_files_of_both_runs(ddb, spark, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(300, seed=152))
    folder = str(tmp_path / "export")
    savepoints = {"path": str(tmp_path / "sp"), "intervalSeconds": 1}
    first = export_config(ddb, table_name, folder, source={"scanSegments": 3}, savepoints=savepoints,
                          skipSegments=[1, 2])
    copy(spark, parse_config(first))
    assert not os.path.exists(os.path.join(folder, "manifest-summary.json"))  # not finished
    second = export_config(ddb, table_name, folder, source={"scanSegments": 3}, savepoints=savepoints,
                           skipSegments=[0])
    copy(spark, parse_config(second))
    _, exported = export_items(local_reader, folder)
    assert datagen.by_key(exported) == datagen.by_key(datagen.scan_all(source.client(), table_name))


@pytest.mark.slow
def test_an_export_on_s3_from_the_cli(ddb, table_name, tmp_path, s3_server):  # noqa: F811
    s3, env = s3_server
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.all_types_items() + datagen.generate_items(200, seed=153))
    prefix = f"exports/{table_name}"
    config = tmp_path / "export.yaml"
    config.write_text(yaml.safe_dump(export_config(ddb, table_name, f"s3://{BUCKET}/{prefix}")))
    done = run("run", "--config", str(config), env_extra=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    _, exported = export_items(lambda key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), prefix)
    assert datagen.by_key(exported) == datagen.by_key(datagen.scan_all(source.client(), table_name))
    checked = run("validate", "--config", str(config), env_extra=env)
    assert checked.returncode == 0 and ": EQUAL" in checked.stdout, checked.stdout[-3000:] + checked.stderr[-3000:]

    # Read back by the export source into a new table: it equals the table exported.
    _, target = ddb
    back = tmp_path / "back.yaml"
    back.write_text(yaml.safe_dump({
        "source": export_source(f"{prefix}/manifest-summary.json", **s3_settings(env)),
        "target": {"type": "dynamodb", "table": f"{table_name}_back", "endpoint": endpoint(target),
                   "region": "us-east-1", "credentials": {"accessKey": "test", "secretKey": "test-secret"}}}))
    done = run("run", "--config", str(back))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert datagen.by_key(datagen.scan_all(target.client(), f"{table_name}_back")) == datagen.by_key(
        datagen.scan_all(source.client(), table_name))
