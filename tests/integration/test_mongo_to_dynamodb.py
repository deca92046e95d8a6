"""MongoDB into DynamoDB: the way back. A DynamoDB table of every type goes to MongoDB and comes back into another
DynamoDB Local through the CLI, while the collection changes under the second leg's snapshot and replication;
what DynamoDB cannot hold goes to the dead letter, and the validator compares the pair."""

from __future__ import annotations

import re
import uuid

import bson
import pytest
import yaml

from devtools import datagen
from migrator.deadletter import read_dead_letters
from migrator.targets.mongodb.documents import BsonPolicy, from_document, to_document
from tests.conftest import eventually
from tests.integration.conftest import endpoint
from tests.integration.test_cli import end_background, run, start_background
from tests.integration.test_mongo_source import RandomChanges

TAGGED = BsonPolicy(sets="tagged", on_overflow="tagged")
CREDENTIALS = {"accessKey": "test", "secretKey": "test-secret"}


def ddb_section(server, table: str) -> dict:
    return {"type": "dynamodb", "table": table, "endpoint": endpoint(server), "region": "us-east-1",
            "credentials": CREDENTIALS}


class DocumentChanges(RandomChanges):
    """Replaces (inserts too), updates and deletes of the documents of items, as a DynamoDB-to-MongoDB migration
    would have written them; ``touched`` holds every (pk, sk) it changed."""

    def __init__(self, collection, ids: int, rate: float, seed: int):
        super().__init__(collection, ids, rate, seed, ("replace", "update", "delete"))
        self.touched: set[tuple[str, int]] = set()

    def change(self, n: int) -> None:
        item = datagen.generate_items(1, seed=n, start=n)[0]
        _id = {"pk": item["pk"]["S"], "sk": bson.Int64(int(item["sk"]["N"]))}
        self.touched.add((_id["pk"], _id["sk"]))
        op = self.rng.random()
        if op < 0.3:
            item["version"] = {"N": str(self.rng.randrange(10**30))}
            self.collection.replace_one({"_id": _id}, to_document(item, ["pk", "sk"], TAGGED), upsert=True)
            self.ops["replace"] += 1
        elif op < 0.8:
            done = self.collection.update_one({"_id": _id}, {"$set": {"flag": {"__dynamodb_set__": "SS",
                                                                             "values": ["x", str(n)]}}})
            self.ops["update"] += done.modified_count
        else:
            self.ops["delete"] += self.collection.delete_one({"_id": _id}).deleted_count


def key_of(item: dict) -> tuple[str, int]:
    return item["pk"]["S"], int(item["sk"]["N"])


@pytest.mark.slow
def test_dynamodb_to_mongodb_and_back_under_live_changes(ddb, mongo_oplog, tmp_path, table_name):
    source, target = ddb
    items = datagen.all_types_items() + datagen.generate_items(400, seed=17)
    datagen.create_table(source.client(), table_name)
    datagen.put_items(source.client(), table_name, items)
    database = f"back{uuid.uuid4().hex[:6]}"

    # Leg 1: DynamoDB -> MongoDB, sets and 38-digit numbers tagged so that they come back as they were.
    there = tmp_path / "there.yaml"
    there.write_text(yaml.safe_dump({
        "source": ddb_section(source, table_name),
        "target": {"type": "mongodb", "uri": mongo_oplog.uri, "database": database, "sets": "tagged",
                   "numbers": {"onOverflow": "tagged"}, "streamChanges": False},
        "savepoints": {"path": str(tmp_path / "sp1")}}))
    done = run("run", "--config", str(there))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "dead-lettered  : 0 items" in done.stdout and "numbers as text: 8 " in done.stdout, done.stdout[-2000:]
    collection = mongo_oplog.client()[database][table_name]
    # A document DynamoDB cannot hold (a NaN), there before the way back's snapshot.
    collection.insert_one({"_id": {"pk": "nan", "sk": bson.Int64(1)}, "pk": "nan", "sk": 1, "v": float("nan")})

    # Leg 2: MongoDB -> the other DynamoDB Local, keys from _id, with changes during its snapshot and replication.
    back = f"{table_name}_back"
    config = tmp_path / "back.yaml"
    config.write_text(yaml.safe_dump({
        "source": {"type": "mongodb", "uri": mongo_oplog.uri, "database": database, "collection": table_name,
                   "key": {"pk": "_id.pk", "sk": "_id.sk"}, "scanSegments": 3, "batchSize": 40},
        "target": {**ddb_section(target, back), "streamChanges": True},
        "savepoints": {"path": str(tmp_path / "sp2"), "intervalSeconds": 1},
        "streaming": {"stopWhenIdleSeconds": 8, "triggerSeconds": 1}}))
    changes = DocumentChanges(collection, 450, rate=15, seed=4)
    changes.start()
    proc, log = start_background(str(config), tmp_path)
    try:
        eventually(lambda: _logged(tmp_path, r": replicating changestream:\S+ into"), timeout=240)
        eventually(lambda: _logged(tmp_path, r"batch \d+: \| INSERT \| \d+ \| MODIFY \| [1-9]"), timeout=120)
        # A document whose _id cannot be a key arrives through the change stream.
        collection.insert_one({"_id": bson.ObjectId(), "pk": "oid"})
        ops = changes.stop()
        assert proc.wait(timeout=240) == 0, (tmp_path / "first-run.log").read_text()[-3000:]
    finally:
        end_background(proc, log, changes)
    assert ops["replace"] > 5 and ops["update"] > 10 and ops["delete"] > 3, ops
    text = (tmp_path / "first-run.log").read_text()

    letters = read_dead_letters(str(tmp_path / "sp2" / "dead-letter"))
    reasons = sorted(r["reason"] for r in letters)
    assert len(reasons) == 2 and reasons[0].startswith('_id {"$oid": ') and "has no field 'pk'" in reasons[0]
    assert reasons[1] == "v: nan has no DynamoDB number", letters
    assert any(r["document"].get("v") == {"$numberDouble": "NaN"} for r in letters)
    assert "dead-lettered  : 1 items" in text

    arrived = {key_of(i): datagen.normalize(i) for i in datagen.scan_all(target.client(), back)}
    documents = [d for d in collection.find() if isinstance(d["_id"], dict) and d["_id"]["pk"] != "nan"]
    # Every document is its item, by the DynamoDB-to-MongoDB mapping's own inverse.
    expected = {(d["_id"]["pk"], d["_id"]["sk"]): datagen.normalize(from_document(d, TAGGED)) for d in documents}
    assert arrived.keys() == expected.keys()
    assert [k for k in expected if arrived[k] != expected[k]] == []
    # And the items no change touched are the original DynamoDB items, exactly.
    original = {key_of(i): datagen.normalize(i) for i in datagen.scan_all(source.client(), table_name)}
    untouched = [k for k in original if k not in changes.touched and k in arrived]
    assert len(untouched) > 100 and len(original) - len(untouched) - len(changes.touched & original.keys()) == 0
    assert [k for k in untouched if arrived[k] != original[k]] == []

    # The validator compares the pair: an item deleted from the target is missing and copied again; the two
    # documents that are not items are missing too, and stay so; nothing else differs.
    lost = next(iter(untouched))
    target.client().delete_item(TableName=back, Key={"pk": {"S": lost[0]}, "sk": {"N": str(lost[1])}})
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "validation": {"copyMissingRows": True}}))
    checked = run("validate", "--config", str(config))
    assert checked.returncode == 1, checked.stdout[-3000:] + checked.stderr[-3000:]
    assert re.search(r"missing    : 3 .*\n.*extra      : 0.*\n.*different  : 0\n.*fixed      : 1\n", checked.stdout), \
        checked.stdout[-3000:]
    again = {key_of(i): datagen.normalize(i) for i in datagen.scan_all(target.client(), back)}
    assert again == arrived
    assert 'missing   {"pk": {"S": "nan"}, "sk": {"N": "1"}}' in checked.stdout
    assert re.search(r'missing   \{"pk": \{"S": "_id \{\\"\$oid\\": ', checked.stdout), checked.stdout[-2000:]


def _logged(tmp_path, pattern: str) -> None:
    assert re.search(pattern, (tmp_path / "first-run.log").read_text()), pattern


def test_check_says_when_the_ids_cannot_be_keys(ddb, mongo_oplog, tmp_path):
    _, target = ddb
    database = f"oid{uuid.uuid4().hex[:6]}"
    mongo_oplog.client()[database]["users"].insert_many([{"_id": bson.ObjectId(), "n": n} for n in range(3)])
    config = tmp_path / "check.yaml"
    source = {"type": "mongodb", "uri": mongo_oplog.uri, "database": database, "collection": "users"}
    config.write_text(yaml.safe_dump({"source": source, "target": ddb_section(target, "users")}))
    done = run("check", "--config", str(config))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"PROBLEM.*first document's _id: ObjectId \w+ has no DynamoDB type; set source.types.objectId: "
                     "string", done.stdout), done.stdout[-3000:]
    config.write_text(yaml.safe_dump({"source": {**source, "types": {"objectId": "string"}},
                                      "target": ddb_section(target, "users")}))
    done = run("check", "--config", str(config))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"the documents of {database}.users become items keyed _id (S)" in done.stdout
