"""DynamoDB into MongoDB (the MongoDB-wire test server), snapshot and policies, in this process."""

from __future__ import annotations

from decimal import Decimal

import pytest
from bson import Binary, Int64

from devtools import datagen
from migrator.targets.mongodb.documents import BsonPolicy, ConversionNotes, from_document, to_document
from migrator.deadletter import read_dead_letters
from migrator.errors import ConversionError, TargetError
from migrator.jobs.plan import build_plan
from tests.integration.conftest import copy, mongo_config

TAGGED = BsonPolicy(sets="tagged", on_overflow="string")


def load(ddb, table, items, **extra):
    source, _ = ddb
    datagen.create_table(source.client(), table, **extra)
    datagen.put_items(source.client(), table, items)


def test_every_type_arrives_exactly_with_composite_keys(ddb, mongo, spark, table_name):
    items = datagen.all_types_items() + datagen.generate_items(300, seed=91)
    load(ddb, table_name, items)
    config = mongo_config(ddb, mongo, table_name, sets="tagged", numbers={"onOverflow": "string"})
    _, result = copy(spark, config)
    notes = ConversionNotes()
    for item in items:
        to_document(item, ["pk", "sk"], TAGGED, notes)
    assert result.items == len(items) and result.numbers_as_strings == notes.numbers_as_strings > 0
    docs = {(d["pk"], int(d["sk"])): d for d in mongo.client()["migrated"][table_name].find()}
    assert len(docs) == len(items)
    source, _ = ddb
    for item in datagen.scan_all(source.client(), table_name):  # numbers as DynamoDB returns them
        doc = docs[(item["pk"]["S"], int(item["sk"]["N"]))]
        assert list(doc["_id"].items()) == [("pk", item["pk"]["S"]), ("sk", int(item["sk"]["N"]))]
        expected = to_document(item, ["pk", "sk"], TAGGED)  # the mapping, checked exactly on its own
        assert datagen.normalize(from_document(doc, TAGGED)) == datagen.normalize(from_document(expected, TAGGED))
    numbers = docs[("types#001", 1)]
    assert isinstance(numbers["n9"], Int64) and Decimal(numbers["n2"]) == Decimal(datagen.EDGE_NUMBERS[2])  # text
    assert numbers["n4"].to_decimal() == Decimal("9.9E+125") and numbers["n11"].to_decimal() == Decimal("1.5")
    everything = docs[("types#005", 5)]
    assert everything["l_empty"] == [] and everything["m_empty"] == {}
    assert isinstance(docs[("types#002", 2)]["b"], bytes)


def test_numbers_beyond_decimal128_go_to_the_dead_letter_by_default(ddb, mongo, spark, table_name, tmp_path):
    items = datagen.all_types_items() + datagen.generate_items(50, seed=92)
    load(ddb, table_name, items)
    config = mongo_config(ddb, mongo, table_name, savepoints=str(tmp_path / "sp"))
    _, result = copy(spark, config)
    records = read_dead_letters(str(tmp_path / "sp" / "dead-letter"))
    assert result.dead_lettered == len(records) == 3
    assert all("more significant digits than Decimal128" in r["reason"] for r in records)
    assert mongo.client()["migrated"][table_name].count_documents({}) == len(items) - 3
    # Sets are plain arrays by default.
    sets = mongo.client()["migrated"][table_name].find_one({"pk": "types#004"})
    assert sets is None or isinstance(sets["ss"], list)


def test_hash_only_key_indexes_and_ttl(ddb, mongo, spark, table_name):
    source, _ = ddb
    items = datagen.generate_items(120, hash_only=True, seed=93)
    for i, item in enumerate(items):
        item["expires"] = {"N": str(1_900_000_000 + i)}
    datagen.create_table(source.client(), table_name, hash_only=True,
                         ExtraAttributes=[{"AttributeName": "name", "AttributeType": "S"}],
                         GlobalSecondaryIndexes=[{"IndexName": "by-name", "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
                                                  "Projection": {"ProjectionType": "ALL"}}])
    source.client().update_time_to_live(TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
    datagen.put_items(source.client(), table_name, items)
    config = mongo_config(ddb, mongo, table_name, collection="people", ttlField="expireAt")
    copy(spark, config)
    collection = mongo.client()["migrated"]["people"]
    indexes = {i["name"]: i for i in collection.list_indexes()}
    assert list(indexes["by-name"]["key"].items()) == [("name", 1)]
    assert indexes["expireAt_ttl"]["expireAfterSeconds"] == 0
    doc = collection.find_one({"_id": items[0]["pk"]["S"]})
    assert doc["pk"] == items[0]["pk"]["S"] and doc["expires"] == 1_900_000_000
    assert doc["expireAt"].year == 2030
    assert collection.count_documents({}) == 120


@pytest.mark.parametrize("policy", ["error", "drop", "rename", "append"])
def test_existing_collection_policies(ddb, mongo, spark, table_name, policy):
    load(ddb, table_name, datagen.generate_items(20, seed=94))
    db = mongo.client()["migrated"]
    db[table_name].insert_one({"_id": "older", "note": "was here"})
    config = mongo_config(ddb, mongo, table_name, exists=policy)
    plan = build_plan(config, cores=2)
    if policy == "error":
        assert plan.target.problems and "exists with ~1 documents; set target.exists" in plan.target.problems[0]
        with pytest.raises(TargetError, match="set target.exists to drop, rename or append"):
            copy(spark, config)
        return
    copy(spark, config)
    names = db.list_collection_names()
    current = db[table_name]
    assert current.count_documents({"_id": {"$ne": "older"}}) == 20
    assert (current.find_one({"_id": "older"}) is not None) == (policy == "append")
    renamed = [n for n in names if n.startswith(f"{table_name}_2")]
    assert (len(renamed) == 1) == (policy == "rename")
    if renamed:
        assert db[renamed[0]].find_one({"_id": "older"})["note"] == "was here"


def test_a_rerun_resumes_into_the_collection_it_started(ddb, mongo, spark, table_name, tmp_path):
    load(ddb, table_name, datagen.generate_items(40, seed=95))
    config = mongo_config(ddb, mongo, table_name, savepoints=str(tmp_path))
    copy(spark, config)
    plan = build_plan(config, cores=2)  # exists: error, but this is our own migration
    assert plan.target.action == "resume" and not plan.target.problems


def test_an_oversized_document_is_dead_lettered_by_the_writer(mongo, tmp_path):
    from migrator.deadletter import DeadLetterWriter
    from migrator.targets.mongodb.writer import MongoTargetSpec, MongoWriter
    from pydantic import SecretStr

    spec = MongoTargetSpec(SecretStr(mongo.uri), "migrated", "sizes", ["pk"])
    dead = DeadLetterWriter(str(tmp_path), "sizes")
    writer = MongoWriter(spec, dead_letter=dead, max_document_bytes=10_000)
    writer.put({"pk": {"S": "small"}, "b": {"B": b"x" * 100}})
    writer.put({"pk": {"S": "large"}, "b": {"B": b"x" * 20_000}})
    writer.flush()
    writer.close()
    dead.close()
    (record,) = read_dead_letters(str(tmp_path))
    assert record["key"] == {"pk": {"S": "large"}} and "bytes; MongoDB stores at most 10,000" in record["reason"]
    collection = mongo.client()["migrated"]["sizes"]
    assert collection.find_one({"_id": "small"})["b"] == b"x" * 100 and collection.count_documents({}) == 1
    strict = MongoWriter(spec, max_document_bytes=10_000)  # no dead letter: the item stops the task
    strict.put({"pk": {"S": "large"}, "b": {"B": b"x" * 20_000}})
    with pytest.raises(TargetError, match="cannot take the item with key .*large"):
        strict.flush()
    strict.close()
    assert isinstance(Binary(b"x"), bytes)


def test_field_names_policy_error_dead_letters(mongo, tmp_path):
    from migrator.deadletter import DeadLetterWriter
    from migrator.targets.mongodb.writer import MongoTargetSpec, MongoWriter
    from pydantic import SecretStr

    spec = MongoTargetSpec(SecretStr(mongo.uri), "migrated", "names", ["pk"], BsonPolicy(field_names="error"))
    dead = DeadLetterWriter(str(tmp_path), "names")
    with MongoWriter(spec, dead_letter=dead) as writer:
        writer.put({"pk": {"S": "a"}, "a.b": {"N": "1"}})
        writer.put({"pk": {"S": "b"}, "ab": {"N": "1"}})
        writer.flush()
    dead.close()
    (record,) = read_dead_letters(str(tmp_path))
    assert "a field name with '.'" in record["reason"]
    with pytest.raises(ConversionError):
        to_document({"pk": {"S": "a"}, "a.b": {"N": "1"}}, ["pk"], BsonPolicy(field_names="error"))
