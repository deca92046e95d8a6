"""submit.sh on a multi-process Spark cluster (local-cluster: a master, two workers, separate
executor JVMs and Python workers), with migrator importable on executors only through the zip
that submit.sh ships: nothing may depend on driver-only state."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

from devtools import datagen
from tests.integration.test_cli import write_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_submit_sh_copies_a_table_on_a_local_cluster(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.all_types_items() + datagen.generate_items(2000, seed=51)
    datagen.put_items(source.client(), table_name, items)
    # Executors run Python with -S: the venv's packages are on PYTHONPATH, but not the editable
    # install of migrator (a .pth file that -S skips). Only the shipped zip can provide it.
    site_packages = sysconfig.get_paths()["purelib"]
    executor_python = tmp_path / "executor-python"
    executor_python.write_text(f'#!/bin/sh\nexport PYTHONPATH="{site_packages}${{PYTHONPATH:+:$PYTHONPATH}}"\n'
                               f'exec "{sys.executable}" -S "$@"\n')
    executor_python.chmod(0o755)
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    probe = subprocess.run([str(executor_python), "-c", "import migrator"], cwd=cwd, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'migrator'" in probe.stderr

    config = write_config(tmp_path / "c.yaml", ddb, table_name, source={"scanSegments": 4},
                          savepoints={"path": str(tmp_path / "sp"), "intervalSeconds": 1})
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=str(executor_python),
               PYSPARK_DRIVER_PYTHON=sys.executable, MIGRATOR_BUILD_DIR=str(tmp_path / "build"))
    done = subprocess.run(
        [os.path.join(ROOT, "submit.sh"), "--master", "local-cluster[2,1,1024]",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.driver.host=127.0.0.1",
         "--conf", "spark.executor.memory=768m", "run", "--config", config],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"items copied   : {len(items):,} in 4 segments" in done.stdout
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(items)
