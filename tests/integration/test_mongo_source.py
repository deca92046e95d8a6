"""A MongoDB collection as the source, on a real MongoDB-wire server with an oplog (mongo-java-server): ``_id``
ranges that cut a collection of every ``_id`` type exactly, and a live migration into MongoDB through the CLI,
SIGKILLed mid-snapshot and resumed, whose documents arrive as the same bytes."""

from __future__ import annotations

import datetime
import itertools
import json
import random
import re
import threading
import time
import uuid

import bson
import pytest
import yaml
from bson.raw_bson import RawBSONDocument
from bson.regex import Regex

from devtools.latency_proxy import LatencyProxy
from migrator.sources.mongodb.ranges import bounds, range_filter, split_points
from tests.conftest import eventually
from tests.integration.test_cli import end_background, kill_and_restart, run, start_background

#: One _id of each kind a collection may mix (MongoDB orders them by type class, then by value).
MIXED_IDS = [None, 5, 7.5, bson.Int64(9), bson.Decimal128("10.5"), "a", "b", {"x": 1}, {"x": 1, "y": 2},
             bson.Binary(b"zz"), bson.ObjectId("0" * 23 + "1"), True, False,
             datetime.datetime(2020, 1, 1), bson.Timestamp(1, 2)]


def key(value) -> bytes:
    return bson.encode({"_id": value})


def test_id_ranges_cut_a_collection_of_every_id_type_exactly(mongo_oplog):
    collection = mongo_oplog.client()[f"ranges{uuid.uuid4().hex[:6]}"]["mixed"]
    collection.insert_many([{"_id": value} for value in MIXED_IDS])
    ordered = [d["_id"] for d in collection.find().sort("_id", 1)]
    everything = sorted(key(v) for v in ordered)
    # Every choice of up to three split points among them: the ranges hold every document once.
    for count in (1, 2, 3):
        for points in itertools.combinations(ordered, count):
            found = [key(d["_id"]) for n in range(count + 1) for d in collection.find(range_filter(*bounds(list(points), n)))]
            assert sorted(found) == everything, points
    # Resuming after any _id reads exactly what follows it.
    for n, after in enumerate(ordered):
        rest = [key(d["_id"]) for d in collection.find(range_filter(after, bounds([], 0)[1], False)).sort("_id", 1)]
        assert rest == [key(v) for v in ordered[n + 1:]], after
    points = split_points(collection, 4, len(ordered))
    assert len(points) == 3 and [key(p) for p in points] == [key(p) for p in sorted_by_server(collection, points)]


def sorted_by_server(collection, values):
    wanted = {key(v) for v in values}
    return [d["_id"] for d in collection.find().sort("_id", 1) if key(d["_id"]) in wanted]


def make_id(n: int):
    """Two _id types, so that ranges cross a type class. (Sorting thousands of other mixes, int32 with int64 or
    strings with ObjectIds, sometimes fails in mongo-java-server: "Comparison method violates its general
    contract"; every mix is covered by the test of ranges above, on fewer documents.)"""
    return n if n % 2 else f"order-{n:06d}"


def document(_id, n: int, rng: random.Random) -> dict:
    """Every BSON type that survives a copy, in a fixed field order."""
    return {"_id": _id, "i32": n, "i64": bson.Int64(n * 10**12), "dec": bson.Decimal128(f"{n}.{n % 97:02d}"),
            "dbl": n / 3, "text": "x" * rng.randrange(20, 400), "bin": bson.Binary(bytes(rng.randrange(256) for _ in range(8))),
            "uuid": bson.Binary(uuid.UUID(int=n).bytes, 4), "date": datetime.datetime(2020, 1, 1) + datetime.timedelta(milliseconds=n),
            "ts": bson.Timestamp(n + 1, 1), "null": None, "empty": {}, "list": [1, "a", {"k": [bson.Int64(2)]}, []],
            "regex": Regex("^a.c$", "i"), "edge": bson.MinKey() if n % 2 else bson.MaxKey(),
            "nested": {"deep": {"deeper": n, "oid": bson.ObjectId(f"{n + 7:024x}")}}}


class RandomChanges(threading.Thread):
    """Changes of a pool of ``ids`` documents, one picked at random about ``rate`` times a second (``change``);
    ``ops`` counts them by kind."""

    def __init__(self, collection, ids: int, rate: float, seed: int, kinds: tuple[str, ...]):
        super().__init__(daemon=True)
        self.collection, self.ids, self.rate = collection, ids, rate
        self.rng = random.Random(seed)
        self.done = threading.Event()
        self.ops = dict.fromkeys(kinds, 0)

    def change(self, n: int) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.done.is_set():
            self.change(self.rng.randrange(self.ids))
            time.sleep(1 / self.rate)

    def stop(self) -> dict:
        self.done.set()
        self.join(timeout=30)
        return self.ops


class DocumentLoad(RandomChanges):
    """Random inserts, replaces, updates and deletes of documents of every type."""

    def __init__(self, collection, ids: int, rate: float, seed: int):
        super().__init__(collection, ids, rate, seed, ("insert", "replace", "update", "delete"))

    def change(self, n: int) -> None:
        _id, op = make_id(n), self.rng.random()
        if op < 0.25:
            self.collection.replace_one({"_id": _id}, document(_id, n + 1_000_000, self.rng), upsert=True)
            self.ops["insert" if op < 0.1 else "replace"] += 1
        elif op < 0.8:
            changed = self.collection.update_one({"_id": _id}, {"$set": {"i64": bson.Int64(self.rng.randrange(10**15))},
                                                                "$unset": {"null": ""}})
            self.ops["update"] += changed.modified_count
        else:
            self.ops["delete"] += self.collection.delete_one({"_id": _id}).deleted_count


def raw_documents(collection) -> dict[bytes, bytes]:
    raw = collection.with_options(codec_options=bson.CodecOptions(document_class=RawBSONDocument))
    return {key(d["_id"]): d.raw for d in raw.find()}


def savepoint_state(folder):
    files = list(folder.glob("snapshot-*.json")) if folder.exists() else []
    assert files, "no savepoint yet"
    data = json.loads(files[0].read_text())
    return sum(s["items"] for s in data["segments"].values()), bool(data["completed_at"])


@pytest.mark.slow
def test_a_live_collection_into_mongodb_survives_sigkill_and_arrives_byte_for_byte(mongo_oplog, mongo, tmp_path):
    database = f"shop{uuid.uuid4().hex[:6]}"
    source = mongo_oplog.client()[database]["orders"]
    rng = random.Random(3)
    total = 6000
    for start in range(0, total, 1000):
        source.insert_many([document(make_id(n), n, rng) for n in range(start, start + 1000)])
    # The first run reads through a proxy that delays each answer, so that the kill lands mid-snapshot.
    slow = LatencyProxy(mongo_oplog.port, delay=0.05).start()
    sp = tmp_path / "sp"

    def config(name: str, uri: str) -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({
            "source": {"type": "mongodb", "uri": uri, "database": database, "collection": "orders", "scanSegments": 4,
                       "batchSize": 20},
            "target": {"type": "mongodb", "uri": mongo.uri, "database": database, "streamChanges": True},
            "savepoints": {"path": str(sp), "intervalSeconds": 1},
            "streaming": {"stopWhenIdleSeconds": 8, "triggerSeconds": 1},
        }))
        return str(path)

    load = DocumentLoad(source, total + 500, rate=40, seed=5)
    load.start()
    proc, log = start_background(config("slow.yaml", f"mongodb://127.0.0.1:{slow.port}/"), tmp_path)
    try:
        def part_way():
            items, done = savepoint_state(sp)
            assert 0 < items and not done, (items, done)
            return items
        copied_before = eventually(part_way, timeout=180, interval=0.1)
        proc, log = kill_and_restart(proc, log, config("fast.yaml", mongo_oplog.uri), tmp_path)
        # Replication applies the changes made since the pin, while the load goes on.
        eventually(lambda: _logged(tmp_path, r": replicating changestream:\S+@\d+\.\d+ into"), timeout=240)
        eventually(lambda: _logged(tmp_path, r"batch \d+: \| INSERT \| \d+ \| MODIFY \| [1-9]"), timeout=120)
        ops = load.stop()
        assert proc.wait(timeout=240) == 0, (tmp_path / "first-run.log").read_text()[-3000:]
    finally:
        load.done.set()
        slow.stop()
        end_background(proc, log)
    assert ops["insert"] > 5 and ops["update"] > 20 and ops["delete"] > 5, ops
    text = (tmp_path / "first-run.log").read_text()
    this_run = int(re.search(r"this run       : ([\d,]+) items", text).group(1).replace(",", ""))
    assert this_run <= total + 500 - copied_before, (this_run, copied_before)
    expected, got = raw_documents(source), raw_documents(mongo.client()[database]["orders"])
    assert len(expected) > total - 500
    assert expected.keys() == got.keys()
    # Every field of every document has the same type and bytes. The order of fields too, except where the
    # target's mongo-java-server kept an existing document's order on a replace (MongoDB stores the replacement
    # as sent, and the writer sends the source's bytes).
    differ = [k for k in expected if fields(expected[k]) != fields(got[k])]
    assert differ == [], [_fields_apart(bson.decode(expected[k]), bson.decode(got[k])) for k in differ[:3]]
    reordered = [k for k in expected if expected[k] != got[k]]
    assert len(reordered) < ops["replace"] + ops["insert"], len(reordered)

    # The validator agrees, over _id ranges of both sides; then it finds a deleted and a changed document.
    done = run("validate", "--config", str(tmp_path / "fast.yaml"))
    assert done.returncode == 0 and f"EQUAL\n  compared   : {len(expected):,} keys" in done.stdout, done.stdout[-3000:]
    target = mongo.client()[database]["orders"]
    gone, changed = (source.find_one({"_id": {"$type": kind}})["_id"] for kind in ("int", "string"))
    target.delete_one({"_id": gone})
    target.update_one({"_id": changed}, {"$set": {"i64": 7}})  # an Int32 where an Int64 was
    done = run("validate", "--config", str(tmp_path / "fast.yaml"))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert "missing    : 1 " in done.stdout and "different  : 1\n" in done.stdout, done.stdout[-3000:]
    assert re.search(rf"{changed}.*i64", done.stdout), done.stdout[-3000:]


def _logged(tmp_path, pattern: str) -> None:
    assert re.search(pattern, (tmp_path / "first-run.log").read_text()), pattern


def fields(raw: bytes) -> dict[str, bytes]:
    """A document's fields, each as the exact bytes of its value, in no order."""
    return {name: bson.encode({"v": value}) for name, value in bson.decode(raw).items()}


def _fields_apart(a: dict, b: dict) -> dict:
    """What differs between two decoded documents: the order of fields, or the values."""
    if list(a) != list(b):
        return {"_id": a["_id"], "source": " ".join(a), "target": " ".join(b)}
    return {"_id": a["_id"], **{f: (a[f], b[f]) for f in a if bson.encode({"v": a[f]}) != bson.encode({"v": b[f]})}}


def test_schema_only_recreates_the_collections_indexes_with_their_options(mongo_oplog, mongo, tmp_path):
    database = f"idx{uuid.uuid4().hex[:6]}"
    source = mongo_oplog.client()[database]["accounts"]
    source.insert_one({"_id": 1, "email": "a@example.com"})
    source.create_index([("email", 1)], unique=True, name="email_unique")
    source.create_index([("shop", 1), ("at", -1)], name="shop_at")
    source.create_index([("expires", 1)], expireAfterSeconds=3600, name="expiry")
    source.create_index([("state", 1)], partialFilterExpression={"state": "open"}, name="open_only")
    source.create_index([("nick", 1)], sparse=True, name="nick_sparse")
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump({
        "source": {"type": "mongodb", "uri": mongo_oplog.uri, "database": database, "collection": "accounts"},
        "target": {"type": "mongodb", "uri": mongo.uri, "database": database, "collection": "copy"}}))
    done = run("run", "--config", str(path), "--schema-only")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "email_unique (email, unique); shop_at (shop, at); expiry (expires, expireAfterSeconds)" in done.stdout
    created = {i["name"]: {k: v for k, v in i.items() if k not in ("v", "ns")}
               for i in mongo.client()[database]["copy"].list_indexes()}
    assert created == {
        "_id_": {"name": "_id_", "key": {"_id": 1}},
        "email_unique": {"name": "email_unique", "key": {"email": 1}, "unique": True},
        "shop_at": {"name": "shop_at", "key": {"shop": 1, "at": -1}},
        "expiry": {"name": "expiry", "key": {"expires": 1}, "expireAfterSeconds": 3600},
        "open_only": {"name": "open_only", "key": {"state": 1}, "partialFilterExpression": {"state": "open"}},
        "nick_sparse": {"name": "nick_sparse", "key": {"nick": 1}, "sparse": True},
    }
    assert mongo.client()[database]["copy"].estimated_document_count() == 0


def test_namespaces_select_collections_across_databases(mongo_oplog, mongo, tmp_path):
    tag = uuid.uuid4().hex[:6]
    client = mongo_oplog.client()
    sizes = {f"a{tag}.orders": 30, f"a{tag}.users": 20, f"a{tag}.tmp_x": 5, f"b{tag}.orders": 10, f"b{tag}.other": 3}
    for namespace, count in sizes.items():
        database, collection = namespace.split(".")
        client[database][collection].insert_many([{"_id": n, "v": bson.Int64(n), "ns": namespace} for n in range(count)])
    path = tmp_path / "namespaces.yaml"
    path.write_text(yaml.safe_dump({
        "source": {"type": "mongodb", "uri": mongo_oplog.uri},
        "target": {"type": "mongodb", "uri": mongo.uri, "streamChanges": False},
        "tables": {"include": [f"a{tag}.*", f"b{tag}.orders"], "exclude": ["*.tmp_*"], "targetPrefix": "copy_",
                   "overrides": {f"b{tag}.orders": {"target": f"c{tag}.orders_b"}}},
        "savepoints": {"path": str(tmp_path / "sp")}}))
    done = run("run", "--config", str(path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "tables: 3 selected, 3 done, 0 failed" in done.stdout, done.stdout[-3000:]
    target = mongo.client()
    copied = {f"{d}.{c}": target[d][c].count_documents({}) for d in target.list_database_names() if tag in d
              for c in target[d].list_collection_names()}
    assert copied == {f"copy_a{tag}.orders": 30, f"copy_a{tag}.users": 20, f"c{tag}.orders_b": 10}
    assert target[f"c{tag}"]["orders_b"].find_one({"_id": 9}) == {"_id": 9, "v": 9, "ns": f"b{tag}.orders"}
    checked = run("validate", "--config", str(path))
    assert checked.returncode == 0 and "3 EQUAL, 0 DIFFERENT, 0 failed" in checked.stdout, checked.stdout[-3000:]
