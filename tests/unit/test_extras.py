"""A configured backend whose optional library is missing: one line naming the extra, before Spark."""

from __future__ import annotations

import subprocess
import sys

import yaml

from migrator.config import parse_config
from migrator.extras import needed_extras, require_extras

DYNAMODB = {"source": {"type": "dynamodb", "table": "orders", "endpoint": {"host": "localhost", "port": 8000}},
            "target": {"type": "dynamodb", "table": "copy", "endpoint": {"host": "localhost", "port": 8001}}}
MONGO = {"source": DYNAMODB["source"],
         "target": {"type": "mongodb", "uri": "mongodb://app:pa55word@localhost:1/", "database": "shop"}}
# The CLI in a process where pymongo and bson cannot be imported, as after `pip install migrator`.
WITHOUT_PYMONGO = ("import sys; sys.modules.update(pymongo=None, bson=None); "
                   "from migrator.cli import main; sys.exit(main(sys.argv[1:]))")


def test_only_backends_with_their_own_library_need_an_extra():
    assert needed_extras(parse_config(DYNAMODB)) == []
    assert needed_extras(parse_config(MONGO)) == [("target.type: mongodb", "mongodb")]
    require_extras(parse_config(MONGO))  # installed here: nothing to say


def test_a_mongodb_target_without_pymongo_fails_in_one_line_before_spark(tmp_path):
    config = tmp_path / "mongo.yaml"
    config.write_text(yaml.safe_dump(MONGO))
    for command in (["run", "--config", str(config)], ["validate", "--config", str(config)]):
        proc = subprocess.run([sys.executable, "-c", WITHOUT_PYMONGO, *command], capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            "migrator: error: target.type: mongodb needs the Python module 'pymongo', which is not installed: "
            "pip install 'migrator[mongodb]'"]
        assert "pa55word" not in proc.stdout + proc.stderr and "Spark" not in proc.stdout


def test_the_dynamodb_path_imports_without_pymongo():
    code = ("import sys; sys.modules.update(pymongo=None, bson=None); "
            "import migrator.cli, migrator.jobs.migration, migrator.jobs.streaming, migrator.jobs.validate, "
            "migrator.jobs.plan, migrator.jobs.snapshot, migrator.targets.dynamodb, migrator.sources.dynamodb")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
