"""End-to-end runs of ``python -m migrator`` as a user runs it, in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from devtools import datagen
from tests.conftest import eventually
from tests.integration.conftest import endpoint

SECRET = "S3CRET-never-print-me-0123456789"


def write_config(path, ddb, table, target_table=None, **extra):
    source, target = ddb
    data = {
        "source": {"type": "dynamodb", "table": table, "endpoint": endpoint(source), "region": "us-east-1",
                   "credentials": {"accessKey": "AKIATEST", "secretKey": SECRET}},
        "target": {"type": "dynamodb", "table": target_table or table, "endpoint": endpoint(target),
                   "region": "us-east-1", "credentials": {"accessKey": "AKIATEST", "secretKey": SECRET},
                   "streamChanges": False},
    }
    for name, value in extra.items():
        if name in ("source", "target"):
            data[name].update(value)
        else:
            data[name] = value
    path.write_text(yaml.safe_dump(data))
    return str(path)


def migrator(*args, env_extra=None, **popen):
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable,
               PYSPARK_SUBMIT_ARGS="--conf spark.ui.enabled=false pyspark-shell")
    env.update(env_extra or {})
    return [sys.executable, "-m", "migrator", *args], env


def run(*args, env_extra=None, timeout=300, timeout_hook=None):
    """Run the CLI to its end; ``timeout_hook`` is called once it has started (to end a load)."""
    command, env = migrator(*args, env_extra=env_extra)
    if timeout_hook is None:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        timeout_hook()
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        raise
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def test_bad_config_fails_before_spark_starts(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  type: dynamodb\n  table: orders\n  scanSegmnts: 4\n"
                   "target:\n  type: dynamodb\n  writeThroughput: lots\n")
    # With no usable Spark at all, only an error raised before Spark starts can come out.
    started = time.monotonic()
    done = run("run", "--config", str(bad), env_extra={"SPARK_HOME": "/nonexistent"})
    assert done.returncode == 2
    assert "source.scanSegmnts: unknown key; did you mean 'scanSegments'?" in done.stderr
    assert "target.writeThroughput: got 'lots'; input should be a valid integer" in done.stderr
    assert "Traceback" not in done.stderr
    assert time.monotonic() - started < 30


def test_dry_run_prints_the_plan_and_writes_nothing(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(50))
    config = write_config(tmp_path / "c.yaml", ddb, table_name, savepoints={"path": str(tmp_path / "sp")},
                          renames=[{"from": "name", "to": "title"}])
    done = run("run", "--config", config, "--dry-run", env_extra={"SPARK_HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"snapshot {table_name} (http://127.0.0.1:{source.port}) -> {table_name}" in out
    assert "~50 items" in out
    assert "segments     : " in out and "read cap     : no cap" in out
    assert f"target table : will create {table_name}: key [pk HASH, sk RANGE]; PAY_PER_REQUEST" in out
    assert "renames      : name -> title" in out
    assert "dry run: nothing was written" in out
    assert table_name not in target.client().list_tables()["TableNames"]
    assert not (tmp_path / "sp").exists()


def test_dry_run_names_an_incompatible_target(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.create_table(target.client(), table_name, hash_only=True)
    done = run("run", "--config", write_config(tmp_path / "c.yaml", ddb, table_name), "--dry-run")
    assert done.returncode == 2
    assert "INCOMPATIBLE: target table" in done.stdout and "[pk HASH (S)]" in done.stdout
    real = run("run", "--config", write_config(tmp_path / "c.yaml", ddb, table_name))
    assert real.returncode == 2
    assert "migrator: error: the target table is incompatible" in real.stderr


def test_missing_source_table_is_a_clear_error(ddb, tmp_path):
    done = run("run", "--config", write_config(tmp_path / "c.yaml", ddb, "no_such_table"), "--dry-run")
    assert done.returncode == 2
    assert "source table 'no_such_table' not found at http://127.0.0.1:" in done.stderr
    assert "check source.table, source.region and source.endpoint" in done.stderr


def test_a_full_run_copies_everything_and_never_shows_a_secret(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.all_types_items() + datagen.generate_items(1000, seed=21)
    datagen.put_items(source.client(), table_name, items)
    config = write_config(tmp_path / "c.yaml", ddb, table_name, savepoints={"path": str(tmp_path / "sp"),
                                                                            "intervalSeconds": 1})
    done = run("run", "--config", config, "--progress-seconds", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"items copied   : {len(items):,} in 2 segments (source reports ~{len(items):,} items)" in done.stdout
    assert f"snapshot {table_name}: " in done.stdout and "items/s, ETA" in done.stdout
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(items)
    saved = [p for p in (tmp_path / "sp").iterdir() if p.suffix == ".json"]
    assert len(saved) == 1 and json.loads(saved[0].read_text())["completed_at"]
    for text in (done.stdout, done.stderr, saved[0].read_text()):
        assert SECRET not in text


def start_background(config, tmp_path, *extra):
    command, env = migrator("run", "--config", config, "--progress-seconds", "1", *extra)
    log = open(tmp_path / "first-run.log", "w")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log


def end_background(proc, log, load=None):
    """Clean-up after a background run: stop the load, kill what is still running, close the log."""
    if load is not None:
        load.done.set()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    log.close()


def kill_and_restart(proc, log, config, tmp_path):
    """SIGKILL a background run (its whole process group), keep its log as killed-run.log, and
    start the same configuration again; returns the new (process, log)."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    log.close()
    (tmp_path / "first-run.log").rename(tmp_path / "killed-run.log")
    return start_background(config, tmp_path)


def savepoint_progress(directory):
    files = [p for p in directory.iterdir() if p.suffix == ".json"] if directory.exists() else []
    assert files, "no savepoint yet"
    data = json.loads(files[0].read_text())
    return sum(s["items"] for s in data["segments"].values()), data


@pytest.mark.slow
def test_sigkill_mid_snapshot_then_rerun_resumes_and_copies_less(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    items = datagen.generate_items(6000, seed=31, sizes=(300, 600, 1200))
    datagen.put_items(source.client(), table_name, items)
    sp = tmp_path / "sp"
    # A write cap slows the first run down enough to kill it in the middle.
    slow = write_config(tmp_path / "slow.yaml", ddb, table_name, savepoints={"path": str(sp), "intervalSeconds": 1},
                        source={"scanSegments": 4}, target={"writeThroughput": 300, "writeConcurrency": 1})
    proc, log = start_background(slow, tmp_path)
    try:
        def halfway():
            copied, data = savepoint_progress(sp)
            assert 600 <= copied and not data.get("completed_at")
            return copied
        copied_before_kill = eventually(halfway, timeout=180, interval=0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        log.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(datagen.scan_all(target.client(), table_name)) < len(items)
    fast = write_config(tmp_path / "fast.yaml", ddb, table_name, savepoints={"path": str(sp), "intervalSeconds": 1},
                        source={"scanSegments": 4})
    done = run("run", "--config", fast)
    assert done.returncode == 0, done.stdout + done.stderr
    this_run = int(done.stdout.split("this run       : ")[1].split(" items")[0].replace(",", ""))
    assert this_run <= len(items) - copied_before_kill
    assert f"items copied   : {len(items):,} in 4 segments" in done.stdout
    assert datagen.by_key(datagen.scan_all(target.client(), table_name)) == datagen.by_key(items)


@pytest.mark.slow
def test_sigterm_saves_progress_and_exits_143(ddb, table_name, tmp_path):
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(4000, seed=41, sizes=(500,)))
    sp = tmp_path / "sp"
    slow = write_config(tmp_path / "slow.yaml", ddb, table_name, savepoints={"path": str(sp), "intervalSeconds": 600},
                        source={"scanSegments": 2}, target={"writeThroughput": 200, "writeConcurrency": 1})
    proc, log = start_background(slow, tmp_path)
    try:
        def copying():
            assert table_name in target.client().list_tables()["TableNames"]
            assert target.client().scan(TableName=table_name, Select="COUNT")["Count"] >= 300
        eventually(copying, timeout=180)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
    finally:
        end_background(proc, log)
    output = (tmp_path / "first-run.log").read_text()
    assert "interrupted; progress saved in" in output and "stopped by SIGTERM" in output
    copied, data = savepoint_progress(sp)  # written on SIGTERM: the interval alone would not have
    assert copied > 0 and not data.get("completed_at")
