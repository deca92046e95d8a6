"""Real servers for integration tests: two DynamoDB Local instances and a local SparkSession.

The servers are started once per test session on free ports (devtools/servers.py) and stopped at
the end; every test makes its own uniquely named tables.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from typing import Any

import pytest

from devtools.servers import DynamoDBLocal, MongoWireServer, start_pair
from migrator.config import MigratorConfig, parse_config

@pytest.fixture(scope="session")
def ddb() -> Any:
    """(source, target): two DynamoDB Local servers, as two clusters would be."""
    source, target = start_pair()
    yield source, target
    source.stop()
    target.stop()


@pytest.fixture(scope="session")
def mongo() -> Any:
    """A MongoDB-wire server (mongo-java-server answering as MongoDB 5.0; see devtools/servers.py)."""
    server = MongoWireServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_oplog() -> Any:
    """A MongoDB-wire server with an oplog, whose collections have change streams (a MongoDB source)."""
    server = MongoWireServer(oplog=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # For sources used without a ClientSpec (the default AWS chain): the JVM and the Python
    # processes it starts take the environment as it is now, so set it before the session.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("migrator-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def table_name(request) -> str:
    """A table name unique to this test: its name plus a short uuid."""
    base = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    return f"{base}_{uuid.uuid4().hex[:6]}"


def batches_logged(text: str) -> int:
    """How many batch lines (micro-batches that applied changes) a log holds."""
    return len(re.findall(r"batch \d+: \| INSERT \|", text))


def endpoint(server: DynamoDBLocal) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port}


def make_config(ddb, source_table: str, target_table: str | None = None, savepoints: str | None = None,
                **sections: Any) -> MigratorConfig:
    """A configuration from the source server's table to the target server."""
    source, target = ddb
    data: dict[str, Any] = {
        "source": {"type": "dynamodb", "table": source_table, "endpoint": endpoint(source), "region": "us-east-1",
                   "credentials": {"accessKey": "test", "secretKey": "test-secret"}},
        "target": {"type": "dynamodb", "table": target_table or source_table, "endpoint": endpoint(target),
                   "region": "us-east-1", "credentials": {"accessKey": "test", "secretKey": "test-secret"},
                   "streamChanges": False},
    }
    if savepoints:
        data["savepoints"] = {"path": savepoints, "intervalSeconds": 1}
    for name, value in sections.items():
        if name in ("source", "target"):
            data[name].update(value)
        else:
            data[name] = value
    return parse_config(data)


def mongo_config(ddb, mongo, source_table: str, database: str = "migrated", savepoints: str | None = None,
                 **target: Any) -> MigratorConfig:
    """A configuration from the source server's table to a collection on the MongoDB-wire server."""
    source, _ = ddb
    data: dict[str, Any] = {
        "source": {"type": "dynamodb", "table": source_table, "endpoint": endpoint(source), "region": "us-east-1",
                   "credentials": {"accessKey": "test", "secretKey": "test-secret"}},
        "target": {"type": "mongodb", "uri": mongo.uri, "database": database, **target},
    }
    if savepoints:
        data["savepoints"] = {"path": savepoints, "intervalSeconds": 1}
    return parse_config(data)


def copy(spark, config: MigratorConfig, now: float | None = None):
    """Plan and run a snapshot in this process; returns (plan, result)."""
    from migrator.jobs.plan import build_plan
    from migrator.jobs.snapshot import run_snapshot

    plan = build_plan(config, cores=2, now=now)
    return plan, run_snapshot(spark, plan, log_every=2.0)
