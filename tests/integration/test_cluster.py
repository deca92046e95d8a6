"""submit.sh on a multi-process Spark cluster (local-cluster: a master, two workers, separate
executor JVMs and Python workers), with migrator importable on executors only through what
submit.sh ships: nothing may depend on driver-only state. One run copies the snapshot and then
replicates a live load through the streaming source."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig

import pytest

from devtools import datagen
from devtools.load import LoadGenerator
from tests.conftest import eventually
from tests.integration.test_cli import write_config
from tests.integration.test_streaming import assert_identical

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_submit_sh_migrates_and_replicates_on_a_local_cluster(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.all_types_items() + datagen.generate_items(2000, seed=51))
    # Executors run Python with -S: the venv's packages are on PYTHONPATH, but not the editable
    # install of migrator (a .pth file that -S skips). Only what submit.sh ships can provide it.
    site_packages = sysconfig.get_paths()["purelib"]
    executor_python = tmp_path / "executor-python"
    executor_python.write_text(f'#!/bin/sh\nexport PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site_packages}"\n'
                               f'exec "{sys.executable}" -S "$@"\n')
    executor_python.chmod(0o755)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    probe = subprocess.run([str(executor_python), "-c", "import migrator"], cwd=cwd, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'migrator'" in probe.stderr

    config = write_config(tmp_path / "c.yaml", ddb, table_name, source={"scanSegments": 4},
                          target={"streamChanges": True},
                          savepoints={"path": str(tmp_path / "sp"), "intervalSeconds": 1},
                          streaming={"stopWhenIdleSeconds": 6})
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=str(executor_python),
               PYSPARK_DRIVER_PYTHON=sys.executable, MIGRATOR_BUILD_DIR=str(tmp_path / "build"))
    env.pop("PYTHONPATH", None)
    log_path = tmp_path / "cluster.log"
    load = LoadGenerator(source.client(), table_name, keys=2500, rate=50, seed=52)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [os.path.join(ROOT, "submit.sh"), "--master", "local-cluster[2,1,1024]",
             "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1",
             "--conf", "spark.executor.memory=768m", "run", "--config", config],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def snapshot_started():
                assert "snapshot " in log_path.read_text() and "segments done" in log_path.read_text()
            eventually(snapshot_started, timeout=240)
            load.start()

            def replicating():
                text = log_path.read_text()
                assert "batch 2:" in text, text[-3000:]
            eventually(replicating, timeout=240)
            load.stop()
            assert proc.wait(timeout=240) == 0, log_path.read_text()[-3000:]
        finally:
            load.done.set()
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log_path.read_text()
    assert "items copied   : " in text and " in 4 segments" in text
    assert "stopped (idle for 6 s)" in text
    assert assert_identical(ddb, table_name) > 1500
