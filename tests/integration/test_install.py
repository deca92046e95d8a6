"""The package as a user installs it: the wheel ``python -m build`` makes, in a fresh venv of each
supported Python that is on this machine (3.11 always; 3.12 and 3.13 from ``devtools/pythons.sh``),
run through its ``migrator`` script; on the other Pythons, the unit tests too.

Dependencies come from PyPI by the package's own ranges (pip's cache makes the second venv quick).
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import zipfile

import pytest
import yaml

from devtools import datagen
from migrator import __version__
from tests.integration.conftest import endpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.integration, pytest.mark.slow]


#: What pyproject.toml's requires-python and classifiers say (pyspark 4.3 needs 3.11).
SUPPORTED = ("3.11", "3.12", "3.13")


def interpreters() -> dict[str, str]:
    """Supported version -> an interpreter: this one, and those devtools/pythons.sh installed."""
    found = {f"{sys.version_info.major}.{sys.version_info.minor}": sys.executable}
    for path in sorted(glob.glob(os.path.join(ROOT, ".cache", "pythons", "*", "bin", "python3.*"))):
        version = os.path.basename(path)[len("python"):]
        if version in SUPPORTED and os.access(path, os.X_OK):
            found.setdefault(version, path)
    return found


PYTHONS = interpreters()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), ROOT],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels = glob.glob(str(out / "migrator-*.whl"))
    assert len(wheels) == 1 and glob.glob(str(out / "migrator-*.tar.gz"))
    return wheels[0]


def test_the_wheel_holds_the_package_and_says_what_it_supports(wheel):
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    assert "migrator/cli.py" in names and "migrator/log4j2.properties" in names
    assert not [n for n in names if n.startswith(("tests/", "devtools/", "bench/"))]
    metadata = archive.read(f"migrator-{__version__}.dist-info/METADATA").decode()
    assert "Requires-Python: <3.14,>=3.11" in metadata
    for version in SUPPORTED:
        assert f"Classifier: Programming Language :: Python :: {version}" in metadata
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert requires and not [r for r in requires if "==" in r.split(";")[0]], requires  # ranges, never pins
    assert "Requires-Dist: pymongo<5,>=4.9; extra == \"mongodb\"" in metadata


def venv_with(python: str, where, *packages: str) -> str:
    subprocess.run([python, "-m", "venv", str(where)], check=True, timeout=300)
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    done = subprocess.run(pip + list(packages), capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return str(where / "bin")


@pytest.mark.parametrize("version", sorted(PYTHONS))
def test_the_wheel_installs_and_runs_on_each_supported_python(version, wheel, ddb, table_name, tmp_path):
    """This Python: the wheel alone, and a MongoDB target without its extra. The others: the wheel with
    every extra and the test tools, then the unit tests on that interpreter."""
    python = PYTHONS[version]
    own = python == sys.executable
    tools = [] if own else ["pytest>=8", "pytest-timeout", "hypothesis", "moto[dynamodb,s3,server]>=5.1"]
    bin_dir = venv_with(python, tmp_path / "venv", wheel if own else f"{wheel}[all]", *tools)
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1")
    env.pop("PYTHONPATH", None)

    def migrator(*args):
        return subprocess.run([os.path.join(bin_dir, "migrator"), *args], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path, env=env)

    assert migrator("--version").stdout.strip() == f"migrator {__version__}"
    source, target = ddb
    datagen.create_table(source.client(), table_name)
    side = {"region": "us-east-1", "credentials": {"accessKey": "a", "secretKey": "b"}}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({
        "source": {"type": "dynamodb", "table": table_name, "endpoint": endpoint(source), **side},
        "target": {"type": "dynamodb", "table": table_name, "endpoint": endpoint(target), "streamChanges": False,
                   **side}}))
    checked = migrator("check", "--config", str(config))
    assert checked.returncode == 0 and "check: passed" in checked.stdout, checked.stdout + checked.stderr
    if own:
        mongo = tmp_path / "m.yaml"
        mongo.write_text(yaml.safe_dump({
            "source": {"type": "dynamodb", "table": table_name, "endpoint": endpoint(source), **side},
            "target": {"type": "mongodb", "uri": "mongodb://127.0.0.1:1", "database": "d"}}))
        refused = migrator("run", "--config", str(mongo))
        assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
            "migrator: error: target.type: mongodb needs the Python module 'pymongo', which is not installed: "
            "pip install 'migrator[mongodb]'"], refused.stderr
        return  # the suite's own unit tests run on this Python
    unit = subprocess.run([os.path.join(bin_dir, "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           os.path.join(ROOT, "tests", "unit")], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, env=env)
    assert unit.returncode == 0, unit.stdout[-5000:] + unit.stderr[-3000:]
