"""Local and S3 paths for configurations, savepoints and dead letters (S3 through moto, in process)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from migrator import storage
from migrator.config import load_config
from migrator.deadletter import DeadLetterWriter, read_dead_letters
from migrator.errors import ConfigError, SavepointError
from migrator.savepoints import SavepointStore, SegmentState, SnapshotSavepoint

CONFIG = """\
source: {type: dynamodb, table: orders, region: us-east-1}
target: {type: dynamodb, table: orders_copy, region: eu-west-1}
savepoints: {path: "s3://migrations/orders"}
"""


@pytest.fixture
def bucket(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="migrations")
        yield s3


def test_paths_split_and_join():
    assert storage.split_s3("s3a://b/x/y.json") == ("b", "x/y.json")
    assert storage.join("s3://b/p/", "a", "b.json") == "s3://b/p/a/b.json"
    assert storage.join("/tmp/p", "a.json") == "/tmp/p/a.json"
    assert storage.is_s3("s3n://b") and not storage.is_s3("/s3://b")
    with pytest.raises(OSError, match="needs a bucket"):
        storage.split_s3("s3:///key")


def test_text_round_trips_on_s3_and_locally(bucket, tmp_path):
    for path in ("s3://migrations/a/b.txt", str(tmp_path / "a" / "b.txt")):
        storage.write_text(path, "é\n")
        assert storage.read_text(path) == "é\n"
    assert storage.list_names("s3a://migrations/a", ".txt") == ["s3a://migrations/a/b.txt"]
    assert storage.list_names(str(tmp_path / "nowhere")) == []
    with pytest.raises(FileNotFoundError):
        storage.read_text("s3://migrations/missing.txt")
    with pytest.raises(OSError, match=r"NoSuchBucket: .*'s3://no-such-bucket/x'"):
        storage.read_text("s3://no-such-bucket/x")


def test_a_config_loads_from_s3_and_a_missing_one_is_named(bucket):
    bucket.put_object(Bucket="migrations", Key="orders/config.yaml", Body=CONFIG.encode())
    config = load_config("s3://migrations/orders/config.yaml")
    assert config.savepoints.path == "s3://migrations/orders"
    assert config.checkpoint_location == "s3://migrations/orders/checkpoints/orders-to-orders_copy"
    with pytest.raises(ConfigError, match=r"s3://migrations/nope.yaml.*no such file"):
        load_config("s3://migrations/nope.yaml")


def test_savepoints_live_under_an_s3_prefix(bucket):
    store = SavepointStore("s3://migrations/orders", "snapshot-orders-to-orders_copy.json")
    assert store.load() is None
    savepoint = SnapshotSavepoint("orders", "orders_copy", 4)
    savepoint.segments[2] = SegmentState(done=True, items=10)
    store.save(savepoint)
    assert store.load().segments[2].items == 10
    denied = SavepointStore("s3://no-such-bucket/p", "s.json")
    with pytest.raises(SavepointError, match="cannot write savepoint s3://no-such-bucket/p/s.json: NoSuchBucket"):
        denied.save(savepoint)


def test_dead_letters_are_uploaded_when_the_task_closes_its_file(bucket):
    writer = DeadLetterWriter("s3://migrations/orders/dead-letter", "orders_copy-segment3")
    writer.write("orders_copy", {"pk": {"S": "a"}}, "too large", {"pk": {"S": "a"}, "n": {"N": "1"}})
    writer.write("orders_copy", {"pk": {"S": "b"}}, "too large", None)
    assert read_dead_letters("s3://migrations/orders/dead-letter") == []  # not before the task ends
    writer.close()
    assert writer.path.startswith("s3://migrations/orders/dead-letter/orders_copy-segment3-")
    records = read_dead_letters("s3://migrations/orders/dead-letter")
    assert [(r["key"], r["item"]) for r in records] == [({"pk": {"S": "a"}}, {"pk": {"S": "a"}, "n": {"N": "1"}}),
                                                       ({"pk": {"S": "b"}}, None)]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_exclusive_creation_lets_one_writer_win_and_trees_go_away(where, tmp_path, request):
    if where == "s3":
        request.getfixturevalue("bucket")
        base = "s3://migrations/cp/positions"
    else:
        base = str(tmp_path / "positions")
    first = storage.join(base, "7", "0.json")
    assert storage.create_exclusive(first, '{"n": 1}') is True
    assert storage.create_exclusive(first, '{"n": 2}') is False
    assert storage.read_text(first) == '{"n": 1}'
    storage.create_exclusive(storage.join(base, "8", "1.json"), "{}")
    storage.create_exclusive(storage.join(base, "10", "0.json"), "{}")
    assert storage.list_dirs(base) == ["10", "7", "8"]
    storage.remove_tree(storage.join(base, "7"))
    assert storage.list_dirs(base) == ["10", "8"] and storage.list_names(storage.join(base, "7")) == []
    if where == "local":
        assert [p.name for p in (tmp_path / "positions" / "8").iterdir()] == ["1.json"]  # no temporary left
