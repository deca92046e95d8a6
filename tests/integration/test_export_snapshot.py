"""A live table's snapshot from a point-in-time export (source.exportSnapshot), end to end from the CLI.

DynamoDB Local has no point-in-time recovery nor exports: ``devtools/export_api.py`` answers those calls in
front of it and writes the export into moto's S3 server, in AWS's layout; everything else (tables,
streams) is DynamoDB Local's. The proxy counts the calls it receives, so the test sees that the snapshot
read no page of the table with Scan.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from devtools import datagen
from devtools.export_api import ExportAPI
from devtools.load import LoadGenerator
from tests.conftest import eventually
from tests.integration.test_change_log import assert_logged, rerun_converges, savepoint
from tests.integration.test_cli import kill_and_restart, start_background
from tests.integration.test_s3_paths import BUCKET, s3_server  # noqa: F401 - the fixture
from tests.integration.test_streaming import streaming_config


def export_settings(env) -> dict:
    s3 = urlsplit(env["AWS_ENDPOINT_URL_S3"])
    return {"bucket": BUCKET, "prefix": "exports/orders", "pollSeconds": 0.5, "region": "us-east-1",
            "endpoint": {"host": f"http://{s3.hostname}", "port": s3.port}, "usePathStyleAccess": True,
            "credentials": {"accessKey": env["AWS_ACCESS_KEY_ID"], "secretKey": env["AWS_SECRET_ACCESS_KEY"]}}


@pytest.mark.slow
def test_an_export_snapshot_under_live_writes_survives_a_kill_mid_export_and_converges(ddb, table_name, tmp_path,
                                                                                         s3_server):  # noqa: F811
    source, _ = ddb
    _, env = s3_server
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.all_types_items() + datagen.generate_items(900, seed=151))
    load = LoadGenerator(source.client(), table_name, keys=1200, rate=40, seed=152)
    with ExportAPI(source.endpoint, env["AWS_ENDPOINT_URL_S3"], delay=6.0, files=3) as api:
        config = streaming_config(tmp_path, ddb, table_name,
                                  source={"endpoint": {"host": "127.0.0.1", "port": urlsplit(api.endpoint).port},
                                          "exportSnapshot": export_settings(env)},
                                  streaming={"triggerSeconds": 1})
        proc, log = start_background(config, tmp_path)
        try:
            eventually(lambda: assert_logged(tmp_path, "first batch through"), timeout=180)
            load.start()  # changes from now on land in the stream and, some, in the export too

            def export_requested():
                assert savepoint(tmp_path)["export_arn"], "no export yet"
            eventually(export_requested, timeout=120, interval=0.1)
            assert not savepoint(tmp_path)["export_manifest"]  # killed while the export is being written
            proc, log = kill_and_restart(proc, log, config, tmp_path)
        except BaseException:
            load.done.set()
            raise
        text = rerun_converges(proc, log, ddb, table_name, load, tmp_path)
    killed = (tmp_path / "killed-run.log").read_text()
    assert "one per data file of an export taken once the stream is pinned" in killed
    assert "point-in-time recovery is off" in killed  # and was turned on
    assert "one per data file of an export in progress" in text  # the rerun waited on the same export
    assert "segments done: 3/3" in text or "in 3 segments" in text, text[-3000:]
    assert api.calls["ExportTableToPointInTime"] == 1
    assert api.calls["Scan"] == 0  # the snapshot read the export's files, not the table
    state = savepoint(tmp_path)
    assert state["export_manifest"].startswith(f"s3://{BUCKET}/exports/orders/AWSDynamoDB/")
    assert state["total_segments"] == 3
