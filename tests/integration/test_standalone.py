"""submit.sh against a real Spark standalone cluster: a master and a worker started from the pyspark
install with ``spark-class`` (devtools/spark_standalone.py), as docs/cluster.md tells users to.
Executors import migrator only from what submit.sh ships. One run copies the snapshot and replicates
a live load until idle; the validator then compares both sides on the same cluster."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from devtools import datagen
from devtools.load import LoadGenerator
from devtools.spark_standalone import StandaloneCluster
from tests.integration.spark_submit import SUBMIT, run_during_load, shipped_only_python, submit_env
from tests.integration.test_cli import write_config
from tests.integration.test_streaming import assert_identical


@pytest.mark.slow
def test_submit_sh_migrates_and_validates_on_a_standalone_cluster(ddb, table_name, tmp_path):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    env = submit_env(tmp_path, shipped_only_python(tmp_path))
    config = write_config(tmp_path / "c.yaml", ddb, table_name, source={"scanSegments": 4},
                          target={"streamChanges": True},
                          savepoints={"path": str(tmp_path / "sp"), "intervalSeconds": 1})
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    report = tmp_path / "report.json"
    load = LoadGenerator(source.client(), table_name, keys=1000, rate=10, seed=62)

    # The table loads while the master and the worker start (each JVM takes 10-30 s on two busy cores).
    with ThreadPoolExecutor(1) as pool:
        loaded = pool.submit(datagen.put_items, source.client(), table_name,
                             datagen.all_types_items() + datagen.generate_items(600, seed=61))
        cluster = StandaloneCluster(str(tmp_path / "spark"), cores=2, memory="2g").start()
    with cluster:
        loaded.result()
        # As docs/cluster.md advises: the driver waits for the executor's cores before migrator plans.
        submit = [SUBMIT, "--master", cluster.master_url, "--conf", "spark.ui.enabled=false",
                  "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.executor.memory=1g",
                  "--conf", "spark.cores.max=2", "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0"]
        text = run_during_load([*submit, "run", "--config", config, "--stop-when-idle", "5"], cwd, env,
                               tmp_path / "run.log", load)
        assert "items copied   : " in text and " in 4 segments" in text
        assert "stopped (idle for 5 s)" in text
        assert assert_identical(ddb, table_name) > 400

        validated = subprocess.run([*submit, "validate", "--config", config, "--report", str(report)], cwd=cwd,
                                   env=env, capture_output=True, text=True, timeout=300)
        assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]
        assert ": EQUAL" in validated.stdout

        # Both applications ran on this master, and their tasks on the worker's executors.
        state = cluster.wait_for(lambda s: len(s["completedapps"]) == 2, "both applications to complete", 60)
    assert [app["name"] for app in state["completedapps"]] == ["migrator", "migrator"]
    assert {app["state"] for app in state["completedapps"]} == {"FINISHED"}
    app_ids = {app["id"] for app in state["completedapps"]}
    executor_logs = glob.glob(os.path.join(cluster.work_dir, "app-*", "*", "stderr"))
    assert {path.split(os.sep)[-3] for path in executor_logs} == app_ids
    assert all("Finished task" in Path(path).read_text(errors="replace") for path in executor_logs)
    data = json.loads(report.read_text())
    assert data["remaining"] == 0 and not any(data["counts"][kind] for kind in ("missing", "extra", "different"))

