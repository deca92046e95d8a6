"""The Amazon EMR packaging (deploy/emr, docs/emr.md), proven without AWS.

package.sh builds the artifacts; they run under the venv's spark-submit with a Python that cannot
import migrator by itself (only the zip provides it). run-step.sh runs step.json's own arguments,
with the S3 prefix replaced by the package directory and YARN by ``local[2]``, and passes SIGTERM
on to migrator's driver. The shell scripts parse, step.json is what ``aws emr add-steps`` reads,
and requirements.txt pins the whole runtime closure as the lock does.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sysconfig
import tomllib
import zipfile
from importlib.metadata import requires, version

import pytest
from packaging.requirements import Requirement

from devtools import datagen
from tests.conftest import eventually
from tests.integration.spark_submit import shipped_only_python
from tests.integration.test_cli import write_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMR = os.path.join(ROOT, "deploy", "emr")
SPARK_SUBMIT = os.path.join(ROOT, ".cache", "venv", "bin", "spark-submit")
SCRIPTS = [os.path.join(EMR, name) for name in ("package.sh", "bootstrap.sh", "run-step.sh")] + [
    os.path.join(ROOT, "submit.sh")]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("emr") / "package"
    done = subprocess.run([os.path.join(EMR, "package.sh"), str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return str(out)


@pytest.fixture(scope="module")
def steps() -> list[dict]:
    with open(os.path.join(EMR, "step.json")) as f:
        return json.load(f)


@pytest.fixture
def no_migrator_python(tmp_path) -> str:
    """A Python with the venv's packages but not migrator: only what the package ships provides it."""
    return shipped_only_python(tmp_path)


def _env(python: str) -> dict[str, str]:
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python,
               SPARK_SUBMIT=SPARK_SUBMIT)
    env.pop("PYTHONPATH", None)
    return env


def _local_args(args: list[str], prefix: str, config: str, python: str) -> list[str]:
    """A step's arguments for this machine: the package directory for the S3 prefix, local[2] for
    YARN, this Python, the local config, no Spark UI, and no --packages (no Maven Central in tests)."""
    out, rest = [args[0], prefix, "--conf", "spark.ui.enabled=false"], iter(args[2:])
    for arg in rest:
        if arg == "--packages":
            next(rest)
        elif arg == "yarn":
            out.append("local[2]")
        elif arg.startswith("spark.pyspark.python="):
            out.append(f"spark.pyspark.python={python}")
        elif arg.startswith("s3://") and arg.endswith("config.yaml"):
            out.append(config)
        else:
            out.append(arg)
    out[0] = os.path.join(prefix, os.path.basename(args[0]))
    return out


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_shell_scripts_parse(script):
    done = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert os.access(script, os.X_OK)


def test_package_holds_what_the_cluster_needs(package):
    names = sorted(os.listdir(package))
    assert names == ["bootstrap.sh", "launch.py", "migrator.zip", "requirements.txt", "run-step.sh"]
    for name in ("bootstrap.sh", "run-step.sh"):
        assert os.access(os.path.join(package, name), os.X_OK)
    with open(os.path.join(package, "launch.py")) as f:
        assert f.read() == "from migrator.cli import main\nraise SystemExit(main())\n"
    shipped = set(zipfile.ZipFile(os.path.join(package, "migrator.zip")).namelist())
    expected = {"migrator/log4j2.properties"}
    for folder, dirs, files in os.walk(os.path.join(ROOT, "migrator")):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        expected.update(os.path.relpath(os.path.join(folder, n), ROOT) for n in files if n.endswith(".py"))
    assert shipped == expected


def test_requirements_pin_the_runtime_closure_as_the_lock_does(package):
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    extras = project["optional-dependencies"]
    todo = [Requirement(r).name for r in project["dependencies"] + extras["mongodb"] + extras["ion"]]
    closure: set[str] = set()
    while todo:
        name = _norm(todo.pop())
        if name not in closure:
            closure.add(name)
            todo.extend(Requirement(r).name for r in requires(name) or []
                        if not Requirement(r).marker or Requirement(r).marker.evaluate({"extra": ""}))
    with open(os.path.join(package, "requirements.txt")) as f:
        pinned = dict(line.strip().split("==") for line in f if line.strip() and not line.startswith("#"))
    assert {_norm(n) for n in pinned} == closure
    with open(os.path.join(ROOT, "requirements-dev.lock")) as f:
        lock = {_norm(n): v for n, v in (line.strip().split("==") for line in f if "==" in line)}
    for name, pin in pinned.items():
        assert pin == lock[_norm(name)] == version(name), name


def test_step_json_runs_what_package_and_bootstrap_install(package, steps):
    with open(os.path.join(EMR, "bootstrap.sh")) as f:
        bootstrap = f.read()
    jars = os.listdir(os.path.join(sysconfig.get_paths()["purelib"], "pyspark", "jars"))
    hadoop_version = next(m.group(1) for m in map(re.compile(r"hadoop-client-api-(.+)\.jar$").match, jars) if m)
    commands = []
    for step in steps:
        assert step["Type"] == "CUSTOM_JAR" and step["Jar"] == "command-runner.jar"
        assert step["ActionOnFailure"] == "CONTINUE" and step["Name"]
        args = step["Args"]
        assert all(isinstance(a, str) for a in args)
        runner, prefix = args[0], args[1]
        assert os.path.basename(runner) in os.listdir(package)
        assert runner == "/opt/migrator/run-step.sh" and "home=/opt/migrator" in bootstrap
        assert prefix.startswith("s3://")
        command = next(i for i, a in enumerate(args) if a in ("run", "validate"))
        spark = args[2:command]
        assert spark[spark.index("--master") + 1] == "yarn"
        assert spark[spark.index("--deploy-mode") + 1] == "client"
        assert "spark.pyspark.python=/usr/bin/python3.11" in spark and "python=python3.11" in bootstrap
        assert "spark.yarn.jars=local:/opt/migrator/spark/jars/*" in spark and '"$home/spark"' in bootstrap
        if "--packages" in spark:
            assert spark[spark.index("--packages") + 1] == f"org.apache.hadoop:hadoop-aws:{hadoop_version}"
        migrator = args[command:]
        assert migrator[migrator.index("--config") + 1] == f"{prefix}/config.yaml"
        if migrator[0] == "validate":
            assert migrator[migrator.index("--report") + 1].startswith(prefix + "/")
        commands.append(migrator[0])
    assert commands == ["run", "validate"]


@pytest.mark.slow
def test_packaged_artifacts_print_the_plan_under_spark_submit(ddb, table_name, tmp_path, package,
                                                               no_migrator_python):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(40, seed=61))
    config = write_config(tmp_path / "c.yaml", ddb, table_name, savepoints={"path": str(tmp_path / "sp")})
    done = subprocess.run(
        [SPARK_SUBMIT, "--master", "local[2]", "--conf", "spark.ui.enabled=false",
         "--py-files", os.path.join(package, "migrator.zip"), os.path.join(package, "launch.py"),
         "run", "--config", config, "--dry-run"],
        cwd=tmp_path, env=_env(no_migrator_python), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"snapshot {table_name} " in done.stdout
    assert "dry run: nothing was written" in done.stdout
    assert not os.path.exists(tmp_path / "sp")


@pytest.mark.slow
def test_run_step_accepts_the_steps_own_arguments(ddb, table_name, tmp_path, package, steps, no_migrator_python):
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(40, seed=62))
    config = write_config(tmp_path / "c.yaml", ddb, table_name, target={"streamChanges": True},
                          savepoints={"path": str(tmp_path / "sp")})
    args = _local_args(steps[0]["Args"], package, config, no_migrator_python)
    done = subprocess.run(["bash", *args, "--dry-run"], cwd=tmp_path, env=_env(no_migrator_python),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"snapshot {table_name} " in done.stdout and "replication  : " in done.stdout
    assert "dry run: nothing was written" in done.stdout


@pytest.mark.slow
def test_run_step_replicates_and_passes_sigterm_to_the_driver(ddb, table_name, tmp_path, package, steps,
                                                               no_migrator_python):
    """The streaming planner runs in a driver-side Python process that only sees the zip through
    run-step.sh's PYTHONPATH; a cancelled step's SIGTERM must reach the driver to stop gracefully."""
    source, _ = ddb
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, datagen.generate_items(60, seed=63))
    config = write_config(tmp_path / "c.yaml", ddb, table_name, source={"scanSegments": 2},
                          target={"streamChanges": True},
                          savepoints={"path": str(tmp_path / "sp"), "intervalSeconds": 1})
    args = _local_args(steps[0]["Args"], package, config, no_migrator_python)
    log_path = tmp_path / "step.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(["bash", *args], cwd=tmp_path, env=_env(no_migrator_python), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            def logged(line):
                text = log_path.read_text()
                assert proc.poll() is None, text[-3000:]
                assert line in text, text[-3000:]
            eventually(lambda: logged("replicating arn:"), timeout=300)
            # A change after the snapshot: its batch proves the planner and the executors run.
            datagen.put_items(source.client(), table_name, datagen.generate_items(1, seed=64, start=100))
            eventually(lambda: logged("| INSERT | 1 | MODIFY | 0 | REMOVE | 0 |"), timeout=120)
            os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=120) == 143, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    text = log_path.read_text()
    assert "run-step.sh: SIGTERM: passing it to the migrator driver" in text
    assert "stopping after the batch in flight (SIGTERM)" in text
    assert f"replicate {table_name}: stopped (signal)" in text
    assert "items copied   : 60 in 2 segments" in text
