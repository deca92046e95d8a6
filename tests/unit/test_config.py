"""Configuration loading: Scylla Migrator compatibility, every rule, errors that say what to do."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from migrator.config import load_config, parse_config
from migrator.errors import ConfigError

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")

BASE = {
    "source": {"type": "dynamodb", "table": "orders", "endpoint": {"host": "localhost", "port": 8000}},
    "target": {"type": "dynamodb", "table": "orders_copy", "endpoint": {"host": "http://scylla", "port": 8000}},
}


def with_changes(**sections):
    data = copy.deepcopy(BASE)
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(data.get(section), dict):
            data[section].update(values)
        else:
            data[section] = values
    return data


def problems(data) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "test.yaml")
    return info.value.problems


def test_scylla_migrator_config_loads_unchanged():
    config = load_config(os.path.join(CONFIGS, "scylla", "earlier-layout.yaml"))
    assert config.source.scan_segments == 4
    assert config.source.throughput_read_percent == 1.0
    assert config.target.batch_size == 100  # from target.alternator.maxItemsPerBatch
    assert config.target.is_alternator
    assert config.skip_segments == [0, 2]
    assert config.validation.failures_to_fetch == 100
    assert config.savepoints.interval_seconds == 300
    assert config.target_table == "BasicTest"


SCYLLA_CONFIGS = sorted(os.listdir(os.path.join(CONFIGS, "scylla")))


@pytest.mark.parametrize("name", SCYLLA_CONFIGS)
def test_every_scylla_migrator_layout_loads_as_it_is(name):
    load_config(os.path.join(CONFIGS, "scylla", name))


def test_alternator_client_settings_at_the_top_take_effect_and_the_others_are_named():
    from migrator.alternator import Balancing
    from migrator.clients import ClientSpec

    config = load_config(os.path.join(CONFIGS, "scylla", "alternator-settings.yaml"))
    target = ClientSpec.from_config(config.target, max_connections=6)
    assert (target.max_connections, target.connect_timeout) == (400, 15.0)
    source = ClientSpec.from_config(config.source)
    assert (source.max_connections, source.connect_timeout) == (12, 15.0)
    assert config.source.is_alternator and config.source.remove_consumed_capacity is True
    assert config.target.settings_without_effect() == [
        "optimizeHeaders", "connectionMaxIdleTimeMs", "connectionTimeToLiveMs", "connectionAcquisitionTimeoutMs"]
    assert config.source.settings_without_effect() == []
    assert target.balancing == Balancing(datacenter="dc1", rack="rack1", active_refresh_ms=1000, idle_refresh_ms=60000)
    assert source.balancing == Balancing()  # type alternator: spread over the seed's datacenter
    assert config.target.max_map_tasks is None
    assert load_config(os.path.join(CONFIGS, "scylla", "issue-103.yaml")).target.max_map_tasks == 1


def test_the_earlier_nested_layout_works_and_a_key_at_the_top_wins():
    from migrator.alternator import Balancing
    from migrator.clients import ClientSpec

    nested = {"alternator": {"maxConnections": 50, "connectionTimeoutMs": 2000, "compression": True}}
    config = parse_config(with_changes(target={"type": "alternator", **nested, "maxConnections": 8}))
    spec = ClientSpec.from_config(config.target, max_connections=6)
    assert (spec.max_connections, spec.connect_timeout) == (8, 2.0)
    assert config.target.settings_without_effect() == []
    assert spec.balancing == Balancing(compression=True)
    plain = ClientSpec.from_config(parse_config(BASE).target, max_connections=6)
    assert plain.max_connections == 6 and plain.balancing is None  # type dynamodb: every call to the endpoint
    off = parse_config(with_changes(target={"type": "alternator", "loadBalancing": False, "compression": True}))
    assert ClientSpec.from_config(off.target).balancing == Balancing(compression=True, spread=False)


def test_alternator_rules_name_the_setting():
    found = problems(with_changes(source={"type": "alternator", "endpoint": None},
                                  target={"type": "alternator", "rack": "r1", "streamChanges": True},
                                  savepoints={"path": "/tmp/sp"}))
    assert found == [
        "source.endpoint: type alternator needs the address of an Alternator node (host: http://scylla, port: 8000)",
        "target.rack: a rack is within a datacenter; set target.datacenter too",
        "target.streamChanges: the source is an Alternator table, which has no DynamoDB Stream to follow; set "
        "streamChanges: false to copy a snapshot (run again, or validate with copyMissingRows, to catch up with "
        "later writes)"]


def test_settings_without_effect_are_warned_about_by_name(caplog):
    from migrator import cli

    config = load_config(os.path.join(CONFIGS, "scylla", "alternator-settings.yaml"))
    with caplog.at_level("WARNING", logger="migrator"):
        cli._warn_ignored(config)
        cli._warn_ignored(load_config(os.path.join(CONFIGS, "scylla", "issue-103.yaml")))
    text = caplog.text
    assert "target: optimizeHeaders, connectionMaxIdleTimeMs" in text and "source:" not in text
    assert "target.maxMapTasks has no effect" in text


def test_example_config_loads_and_documents_every_key():
    path = os.path.join(ROOT, "config.dynamodb.yaml.example")
    config = load_config(path)
    assert config.source.table
    text = open(path, encoding="utf-8").read()
    from migrator.config import MigratorConfig

    def keys(model, prefix=""):
        import typing
        from migrator.config_errors import _unwrap
        for name, field in model.model_fields.items():
            alias = field.alias or name
            yield alias
            inner = _unwrap(field.annotation)
            for member in typing.get_args(inner) or (inner,):  # both kinds of target
                if isinstance(member, type) and hasattr(member, "model_fields"):
                    yield from keys(member)
    undocumented = sorted({k for k in keys(MigratorConfig) if f"{k}:" not in text})
    assert undocumented == [], f"config.dynamodb.yaml.example does not mention {undocumented}"


def test_target_table_defaults_to_source_table_and_credentials_are_optional():
    config = parse_config({
        "source": {"type": "dynamodb", "table": "orders", "region": "us-east-1"},
        "target": {"type": "dynamodb", "region": "eu-west-1"},
    })
    assert config.target_table == "orders"
    assert config.source.credentials is None
    assert config.target.batch_size == 25


def test_unknown_keys_get_a_did_you_mean_suggestion_at_every_level():
    data = with_changes(source={"scanSegmnts": 4}, target={"tabel": "x"})
    data["savepoint"] = {"path": "/tmp"}
    found = problems(data)
    assert "source.scanSegmnts: unknown key; did you mean 'scanSegments'?" in found
    assert "target.tabel: unknown key; did you mean 'table'?" in found
    assert "savepoint: unknown key; did you mean 'savepoints'?" in found


def test_unknown_key_without_close_match_lists_the_allowed_keys():
    found = problems(with_changes(source={"zzz": 1}))
    assert len(found) == 1 and found[0].startswith("source.zzz: unknown key; allowed keys here: type, region")


def test_every_problem_is_reported_at_once_with_field_value_and_rule():
    data = with_changes(source={"scanSegments": 0, "throughputReadPercent": 3},
                        target={"writeThroughput": "7", "billingMode": "ONDEMAND"})
    del data["source"]["table"]
    found = problems(data)
    assert ("source.table: missing; this setting is required (or list the tables of a migration of many under "
            "tables)") in found
    assert any(p.startswith("source.scanSegments: got 0; input should be greater than 0") for p in found)
    assert any(p.startswith("source.throughputReadPercent: got 3; input should be less than or equal to 1.5")
               for p in found)
    assert any(p.startswith("target.writeThroughput: got '7'; input should be a valid integer") for p in found)
    assert any(p.startswith("target.billingMode: got 'ONDEMAND'") and "PAY_PER_REQUEST" in p for p in found)
    assert len(found) == 5


def test_error_message_names_the_file_and_lists_problems():
    data = with_changes(source={"scanSegments": 0})
    with pytest.raises(ConfigError, match=r"configuration test.yaml: source.scanSegments: got 0"):
        parse_config(data, "test.yaml")


def test_secret_values_never_appear_in_errors_or_repr():
    data = with_changes(source={"credentials": {"accessKey": "AKIA1", "secretKey": 12345678}})
    found = problems(data)
    assert found == ["source.credentials.secretKey: got <redacted>; input should be a valid string"]
    config = parse_config(with_changes(source={"credentials": {"accessKey": "AKIA1", "secretKey": "s3cr3t-value"}}))
    assert "s3cr3t-value" not in repr(config)
    assert "s3cr3t-value" not in str(config)
    assert config.source.credentials.secret_key.get_secret_value() == "s3cr3t-value"


def test_table_names_follow_dynamodb_rules():
    found = problems(with_changes(source={"table": "a b"}))
    assert found[0].startswith("source.table: got 'a b'; string should match pattern")


def test_source_type_must_be_a_dynamodb_kind():
    found = problems(with_changes(source={"type": "cassandra"}))
    assert found == ["source.type: got 'cassandra'; input should be 'dynamodb', 'dynamo', 'alternator', 'dynamodb-s3-export' or 'mongodb'"]


@pytest.mark.parametrize("endpoint, url", [
    ({"host": "localhost", "port": 8000}, "http://localhost:8000"),
    ({"host": "http://scylla", "port": 8000}, "http://scylla:8000"),
    ({"host": "dynamodb.eu-west-1.amazonaws.com", "port": 443}, "https://dynamodb.eu-west-1.amazonaws.com:443"),
    ({"host": "https://vpce-1.dynamodb.us-east-1.vpce.amazonaws.com"}, "https://vpce-1.dynamodb.us-east-1.vpce.amazonaws.com"),
])
def test_endpoint_url_accepts_host_with_or_without_scheme(endpoint, url):
    config = parse_config(with_changes(source={"endpoint": endpoint}))
    assert config.source.endpoint.url() == url


def test_access_key_and_secret_key_go_together():
    found = problems(with_changes(source={"credentials": {"accessKey": "AKIA1"}}))
    assert found == ["source.credentials: accessKey and secretKey go together; give both, or neither to use "
                     "the default AWS credential chain"]


def test_assume_role_alone_uses_the_default_chain_as_base():
    config = load_config(os.path.join(CONFIGS, "dynamodb-to-dynamodb-assume-role.yaml"))
    assert config.target.credentials.assume_role.arn.endswith("role/migrator-target")
    assert config.target.credentials.access_key is None


def test_more_than_25_items_per_batch_only_for_alternator():
    data = copy.deepcopy(BASE)
    data["target"] = {"type": "dynamodb", "table": "t_copy", "region": "us-east-1", "maxItemsPerBatch": 50}
    found = problems(data)
    assert found[0].startswith("target.maxItemsPerBatch: got 50; AWS DynamoDB accepts at most 25")
    config = parse_config(with_changes(target={"maxItemsPerBatch": 100}))  # custom endpoint: Alternator
    assert config.target.batch_size == 100
    assert problems(with_changes(target={"maxItemsPerBatch": 101}))[0].startswith("target.maxItemsPerBatch: got 101")


def test_renames_must_be_consistent():
    found = problems(with_changes(renames=[{"from": "a", "to": "b"}, {"from": "a", "to": "c"},
                                           {"from": "d", "to": "b"}, {"from": "e", "to": "e"}]))
    assert "renames[1].from: 'a' is renamed twice" in found
    assert "renames[2].to: two attributes would be renamed to 'b'" in found
    assert "renames[3]: 'from' and 'to' are both 'e'; remove the entry" in found


def test_skip_segments_need_the_segment_count_and_must_be_below_it():
    assert problems(with_changes(skipSegments=[1]))[0].startswith("skipSegments: needs source.scanSegments")
    found = problems(with_changes(source={"scanSegments": 2}, skipSegments=[0, 2, 5]))
    assert found == ["skipSegments: [2, 5] not below source.scanSegments (2); segments are numbered from 0"]


def test_copying_a_table_onto_itself_is_refused():
    data = with_changes(target={"table": "orders", "endpoint": {"host": "localhost", "port": 8000}})
    assert problems(data)[0].startswith("target.table: the target is the source table itself")


def test_same_table_name_in_another_account_is_fine():
    config = parse_config({
        "source": {"type": "dynamodb", "table": "orders", "region": "us-east-1"},
        "target": {"type": "dynamodb", "region": "us-east-1",
                   "credentials": {"assumeRole": {"arn": "arn:aws:iam::2:role/x"}}},
    })
    assert config.target_table == "orders"


def test_stream_changes_need_a_checkpoint_location():
    found = problems(with_changes(target={"streamChanges": True}))
    assert found == ["target.streamChanges: replication needs a place for its checkpoints; set savepoints.path "
                     "(or streaming.checkpointLocation)"]
    config = parse_config(with_changes(target={"streamChanges": True}, savepoints={"path": "s3a://bucket/sp"}))
    assert config.checkpoint_location == "s3a://bucket/sp/checkpoints/orders-to-orders_copy"
    assert config.streaming.trigger_seconds == 1.0 and config.streaming.view_type == "NEW_IMAGE"
    config = parse_config(with_changes(target={"streamChanges": True},
                                       streaming={"checkpointLocation": "/cp", "viewType": "NEW_AND_OLD_IMAGES",
                                                  "stopWhenIdleSeconds": 30, "maxRecordsPerBatch": 500}))
    assert config.checkpoint_location == "/cp" and config.streaming.stop_when_idle_seconds == 30
    assert problems(with_changes(streaming={"viewType": "KEYS_ONLY"}))[0].startswith("streaming.viewType: got 'KEYS_ONLY'")


def test_a_checkpoint_python_executors_cannot_reach_is_refused_and_a_streams_endpoint_is_taken():
    found = problems(with_changes(target={"streamChanges": True}, streaming={"checkpointLocation": "hdfs:///cp"}))
    assert found == ["streaming.checkpointLocation: hdfs:///cp is not reachable from Python executors, which record "
                     "each micro-batch's shard positions beside the checkpoint; use a local or shared path, or s3://"]
    config = parse_config(with_changes(target={"streamChanges": True}, streaming={"checkpointLocation": "file:///cp"},
                                       source={"streamsEndpoint": {"host": "localhost", "port": 8001}}))
    from migrator.clients import ClientSpec

    spec = ClientSpec.from_config(config.source)
    assert (spec.streams_endpoint_url, spec.endpoint_url) == ("http://localhost:8001", "http://localhost:8000")


def test_dead_letter_path_defaults_under_savepoints():
    config = parse_config(with_changes(savepoints={"path": "/data/sp/"}))
    assert config.dead_letter_path == "/data/sp/dead-letter"
    config = parse_config(with_changes(deadLetter={"path": "/dl"}, savepoints={"path": "/sp"}))
    assert config.dead_letter_path == "/dl"
    assert parse_config(BASE).dead_letter_path is None


def test_file_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("source:\n  type: dynamodb\n   table: x\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line 3"):
        load_config(str(bad))
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="must hold a mapping with 'source' and 'target'"):
        load_config(str(empty))


def test_yaml_written_back_loads_the_same(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(with_changes(renames=[{"from": "a", "to": "b"}])))
    assert load_config(str(path)).rename_map == {"a": "b"}


MONGO = {"type": "mongodb", "uri": "mongodb://app:pa55word@db1:27017,db2:27017/?replicaSet=rs0",
         "database": "shop"}


def test_mongodb_target_loads_with_defaults():
    config = parse_config(with_changes(target=None) | {"target": MONGO})
    t = config.target
    assert config.to_mongodb and config.target_table == "orders"  # collection defaults to the table
    assert (t.exists, t.sets, t.field_names, t.numbers.on_overflow) == ("error", "array", "escape", "error")
    assert t.redacted_uri() == "mongodb://***@db1:27017,db2:27017/"
    assert "pa55word" not in repr(config)


def test_mongodb_target_errors_name_the_setting_without_the_tag_and_hide_the_uri():
    found = problems(with_changes(target=None) | {"target": {**MONGO, "databse": "x", "exists": "keep"}})
    assert "target.databse: unknown key; did you mean 'database'?" in found
    assert any(p.startswith("target.exists: got 'keep'; input should be 'error', 'drop', 'rename' or 'append'")
               for p in found)
    found = problems(with_changes(target=None) | {"target": {**MONGO, "uri": "http://app:pa55word@db"}})
    assert found == ["target.uri: must start with mongodb:// or mongodb+srv:// (value not shown: it may hold a "
                     "password)"]
    found = problems(with_changes(target=None) | {"target": {**MONGO, "type": "mongo"}})
    assert len(found) == 1 and found[0].startswith("target.type: got 'mongo'; input should be 'dynamodb', 'dynamo', 'alternator', 'mongodb' or")
    assert "pa55word" not in found[0]
    found = problems(with_changes(target=None) | {"target": {**MONGO, "uri": 42}})
    assert found == ["target.uri: got <redacted>; input should be a valid string"]
