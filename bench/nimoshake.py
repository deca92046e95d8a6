"""DynamoDB into MongoDB: migrator beside NimoShake, on the same data and the same servers, in one run.

NimoShake (https://github.com/alibaba/NimoShake, Alibaba's DynamoDB-to-MongoDB copier, in Go) is built from its
public source: get it with ``git clone https://github.com/alibaba/NimoShake`` and pass the checkout with
``--nimoshake-src``. Its Go module (``nimo-shake``, in the checkout's ``nimo-shake/`` folder) is built with
``go build -o <bin> ./main`` in a temporary copy of that folder (GOFLAGS ``-mod=mod -buildvcs=false``: its go.sum
predates today's Go, and its dependencies come from the Go module proxy the machine is configured with; the
checkout is left as it is). The binary is cached under ``.cache/nimoshake/``, keyed by a hash of the module's
files, so a second run does not build again; ``--nimoshake-bin`` uses a binary built elsewhere. This comparison
needs Go and a module proxy: it stays here in bench/, not in CI.

One DynamoDB Local (the source) and one MongoDB-wire server (mongo-java-server, the target), as
``bench.snapshot --target mongodb`` uses; the source table holds ``--items`` generated items of mixed sizes
(``devtools.datagen.generate_items``, seed 3, as bench.snapshot) plus the nine items of
``datagen.all_types_items`` (every type and its edge cases: 38-digit and extreme numbers, number/string/binary
sets, binary, NULL, empty lists and maps, 30 levels of nesting, a 390 KB binary; ``--no-edge-items`` leaves them
out). Both servers are warmed up once, untimed (bench.snapshot's plain copy), then each of ``--rounds`` rounds
copies the whole table twice, alternating which copier goes first, each into a fresh database that is dropped
afterwards (followed by a full GC of both servers' JVMs, as bench.mongo_source does):

- **migrator**: ``python -m migrator run`` (snapshot only) on an embedded ``local[--cores]`` Spark (2, as
  bench.snapshot), ``--cores`` Scan segments, target ``type: mongodb`` with its defaults (1,000 documents per
  bulk write, 4 writes in flight per task) and ``numbers.onOverflow: tagged`` (the edge items' 35-38 digit
  numbers, which Decimal128 cannot hold, are kept as exact text instead of going to the dead letter). Its time is
  its own summary's "this run ... in X s" (the copy, without Spark's start-up and the plan).
- **NimoShake**: ``nimo-shake -conf <file>`` with ``sync_mode = full``; it exits when the copy is done. Its time
  is the span between its own log lines "start fetcher" and "finish syncing table" (the copy: the Scan readers,
  parsers and writers at work), stamped as they arrive on its standard output. Also printed: its "start full
  sync" to "full sync done" span, which includes creating the indexes and a fixed 10 s sleep its table syncer
  always takes before copying ("wait dynamo proxy to sync cache"), and each copier's whole-process wall time.

NimoShake settings (the keys of its conf/nimo-shake.conf; the rest as shipped): ``full.read.concurrency = 2``
(Scan segments, as the migrator's 2 cores), ``full.document.parser = 2`` (conversion goroutines: one per core),
``full.document.concurrency = 4`` (writer goroutines, each with one bulk write in flight: its shipped default,
against the migrator's 4 per task), ``full.document.write.batch = 1000`` (documents per bulk write, as the
migrator's; NimoShake also flushes at 2 MB), ``qps.full.batch_num = 128`` (its Scan ``Limit``, shipped default),
``qps.full = 1000`` (Scan calls per second, not a limit at this size), ``source.session.timeout = 60000`` ms
(the shipped 3 s makes a Scan that waits on a busy 2-core machine fail and sleep 5 s), ``convert.type = mchange``
(its default: ``dynamodbattribute.UnmarshalMap`` into Go values, every number a float64),
``target.mongodb.type = replica`` (no sharding commands), ``checkpoint.type = file``, a filter naming the one
table, dummy keys and region for DynamoDB Local, and free ports for its pprof and HTTP servers. Its speed hardly
depends on them here: 20,000 items copied at 5,200 to 5,600 items/s with 2, 4 or 8 writers, 128 or 1,000
documents per bulk write, a Scan ``Limit`` of 128 or 1,000. ``--ns-writers``, ``--ns-batch``, ``--ns-scan-limit``
and ``--ns-convert`` change them. ``change`` is NimoShake's other converter: integers and Decimal128, exact, but
it writes empty lists and maps as null (and, by its code, NULL as true), and it panics on a number set that
mixes integers and decimals ("interface {} is primitive.Decimal128, not int"), as the edge items have: run it
with ``--no-edge-items``.

Exactness, after round 1's copies: every document of each copy is read back and each value compared with the
source item's (numbers by exact value: a stored int64, Decimal128, or text is exact; a double counts as changed
unless its binary value equals the decimal exactly; sets as sets; field names as each copier writes them).
Printed per copier: numbers changed of numbers, their stored BSON types, other values changed, documents missing.
Also printed per copy: the CPU seconds of the copier's whole process tree and of each server during its run (on
two cores, what the copier itself spends is what the servers cannot have).

Printed per round: items/s of each, the ratio migrator/NimoShake; then the medians and "target met" if the
migrator's median items/s is at least NimoShake's and its copy is exact (issue 17: "DynamoDB into MongoDB at least
as fast as NimoShake on the same data and servers, with every value still exact").

DynamoDB Local and the Scan ``Limit``: a Scan without ``Limit`` costs DynamoDB Local about eight times the CPU
of the same pages asked for with ``Limit`` (50,000 items in 2 segments, 125 pages either way: 30 s and 39
CPU-seconds without, 4.4 s and 4.6 CPU-seconds with ``Limit`` 1,000). The migrator's Scans had no ``Limit``
unless a cap set one, and lost this comparison at 0.33; they now always ask for at most 1,000 items a page
(``sources/dynamodb/scan.py``'s ``PAGE_ITEMS``). ``--migrator-source`` adds YAML to the migrator's source mapping.

Measured on 2 cores, 50,009 items, 2 rounds (medians; each copier's copy time): migrator 5,943 items/s, NimoShake
4,219 items/s, ratio 1.41, "target met" (whole processes: 3,088 against 2,267 items/s). Exactness: the migrator
changed 0 of 172,799 numbers and 0 of 242,784 other values; NimoShake stored every number as a double and
changed 48,933 of them (0 other values).

    git clone https://github.com/alibaba/NimoShake /tmp/nimoshake-src
    .cache/venv/bin/python -m bench.nimoshake --nimoshake-src /tmp/nimoshake-src [--items 50000] [--rounds 3]
        [--cores 2] [--ns-writers 4] [--ns-batch 1000] [--ns-scan-limit 128] [--ns-convert mchange]
        [--migrator-source YAML] [--check-docs 0] [--no-edge-items] [--nimoshake-bin PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from decimal import Decimal
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.mongo_source import settle  # noqa: E402
from bench.snapshot import baseline_copy  # noqa: E402
from devtools import datagen  # noqa: E402
from devtools.servers import DynamoDBLocal, MongoWireServer, free_port, stop_process  # noqa: E402

SOURCE = "bench_source"
MIGRATOR_DB, NIMO_DB = "bench_migrator", "nimoshake"  # NimoShake writes into the database named by its ``id``
BIN_DIR = os.path.join(ROOT, ".cache", "nimoshake")
TIMEOUT = 540  # seconds, any one copy or build


# --- NimoShake: build ---------------------------------------------------------------------------------------------

def module_dir(src: str) -> str:
    """The folder of NimoShake's Go module in a checkout (``nimo-shake/``), or ``src`` if it is that folder."""
    for candidate in (os.path.join(src, "nimo-shake"), src):
        gomod = os.path.join(candidate, "go.mod")
        if os.path.isfile(gomod) and re.search(r"^module\s+nimo-shake\s*$", open(gomod).read(), re.M):
            return candidate
    raise SystemExit(f"{src} is not a NimoShake checkout (no nimo-shake/go.mod with 'module nimo-shake'); get one "
                     "with: git clone https://github.com/alibaba/NimoShake")


def source_hash(folder: str) -> str:
    """A hash of the module's files (sorted paths and contents; hidden folders left out)."""
    digest = hashlib.sha256()
    for base, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(base, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read() + b"\0")
    return digest.hexdigest()[:16]


def build_nimoshake(src: str) -> str:
    """The path of the NimoShake binary for ``src``, built unless cached."""
    folder = module_dir(src)
    binary = os.path.join(BIN_DIR, f"nimo-shake-{source_hash(folder)}")
    if os.path.isfile(binary):
        print(f"NimoShake: cached binary {os.path.relpath(binary, ROOT)}", flush=True)
        return binary
    go = shutil.which("go")
    if go is None:
        raise SystemExit("NimoShake is built from source with Go: 'go' is not on PATH")
    os.makedirs(BIN_DIR, exist_ok=True)
    partial = f"{binary}.{os.getpid()}.tmp"
    env = dict(os.environ, GOFLAGS=(os.environ.get("GOFLAGS", "") + " -mod=mod -buildvcs=false").strip())
    print(f"NimoShake: go build -o {os.path.relpath(binary, ROOT)} ./main (in {folder})...", flush=True)
    started = time.monotonic()
    # Built in a copy: -mod=mod rewrites go.mod and go.sum, which would change the hash of the checkout.
    with tempfile.TemporaryDirectory(prefix="nimoshake-build-") as copy:
        shutil.copytree(folder, copy, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*"))
        try:
            done = subprocess.run([go, "build", "-o", partial, "./main"], cwd=copy, env=env, capture_output=True,
                                  text=True, timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"go build of NimoShake took more than {TIMEOUT} s") from None
    if done.returncode != 0:
        raise SystemExit(f"go build of NimoShake failed ({done.returncode}):\n"
                         f"{done.stdout[-4000:]}{done.stderr[-4000:]}")
    os.replace(partial, binary)
    print(f"NimoShake: built in {time.monotonic() - started:.0f} s", flush=True)
    return binary


# --- the two copies -----------------------------------------------------------------------------------------------

def run_measured(cmd: list[str], cwd: str | None = None, env: dict | None = None) -> dict[str, Any]:
    """Run ``cmd`` (at most ``TIMEOUT`` s): its output lines stamped as they arrive, its exit code, wall seconds and
    the CPU seconds of its whole process tree (each process's user + system time, sampled every 0.2 s: a JVM that
    is killed rather than waited for never reaches this process's RUSAGE_CHILDREN)."""
    import psutil

    lines: list[tuple[float, str]] = []
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    cpu: dict[int, float] = {}
    done = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append((time.monotonic(), line))

    def sample() -> None:
        try:
            top = psutil.Process(proc.pid)
        except psutil.Error:
            return
        while True:
            try:
                for p in [top, *top.children(recursive=True)]:
                    try:
                        t = p.cpu_times()
                        cpu[p.pid] = max(cpu.get(p.pid, 0.0), t.user + t.system)
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            if done.wait(0.2):
                return

    threads = [threading.Thread(target=f, daemon=True) for f in (read, sample)]
    for t in threads:
        t.start()
    try:
        proc.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_process(proc)
    wall = time.monotonic() - started
    done.set()
    for t in threads:
        t.join(timeout=30)
    return {"code": proc.returncode, "lines": lines, "text": "".join(line for _, line in lines), "wall": wall,
            "cpu": sum(cpu.values())}


def migrator_copy(source: DynamoDBLocal, target: MongoWireServer, cores: int, tmp: str,
                  source_extra: str = "") -> dict[str, Any]:
    """A real CLI run into ``MIGRATOR_DB.SOURCE``: items, seconds (its summary), wall seconds, dead-lettered."""
    target.client()[MIGRATOR_DB].create_collection(SOURCE)
    config = os.path.join(tmp, "migrator.yaml")
    extra = f", {source_extra}" if source_extra else ""
    with open(config, "w") as f:
        f.write(f"""
source: {{type: dynamodb, table: {SOURCE}, endpoint: {{host: 127.0.0.1, port: {source.port}}},
          region: us-east-1, credentials: {{accessKey: b, secretKey: b}}, scanSegments: {cores}{extra}}}
target: {{type: mongodb, uri: '{target.uri}', database: {MIGRATOR_DB}, collection: {SOURCE}, exists: append,
          numbers: {{onOverflow: tagged}}}}
savepoints: {{path: '{tmp}/savepoints-{time.monotonic_ns()}', intervalSeconds: 10}}
""")
    env = dict(os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    run = run_measured([sys.executable, "-m", "migrator", "run", "--config", config, "--master", f"local[{cores}]"],
                       env=env)
    found = re.search(r"this run\s*: ([\d,]+) items .* in ([\d,.]+) s", run["text"])
    if run["code"] != 0 or not found:
        raise RuntimeError(f"migrator failed ({run['code']}):\n{run['text'][-6000:]}")
    dead = re.search(r"dead-lettered\s*: ([\d,]+) items", run["text"])
    return {"items": int(found.group(1).replace(",", "")), "seconds": float(found.group(2).replace(",", "")),
            "wall": run["wall"], "cpu": run["cpu"], "dead": int(dead.group(1).replace(",", "")) if dead else 0}


def nimoshake_conf(path: str, source: DynamoDBLocal, target: MongoWireServer, args: argparse.Namespace,
                   tmp: str) -> None:
    settings = {
        "conf.version": 3,
        "id": NIMO_DB,
        "log.file": "",  # standard output
        "log.level": "info",
        "log.buffer": "true",
        "system_profile": free_port(),
        "full_sync.http_port": free_port(),
        "incr_sync.http_port": free_port(),
        "sync_mode": "full",
        "incr_sync_parallel": "false",
        "source.access_key_id": "local",
        "source.secret_access_key": "local",
        "source.session_token": "",
        "source.region": "us-east-1",
        "source.endpoint_url": source.endpoint,
        "source.session.max_retries": 3,
        "source.session.timeout": 60000,
        "filter.collection.white": SOURCE,
        "filter.collection.black": "",
        "qps.full": 1000,
        "qps.full.batch_num": args.ns_scan_limit,
        "qps.incr": 1000,
        "qps.incr.batch_num": 128,
        "target.type": "mongodb",
        "target.address": target.uri,
        "target.mongodb.type": "replica",
        "target.db.exist": "drop",
        "sync_schema_only": "false",
        "full.concurrency": 1,
        "full.read.concurrency": args.cores,
        "full.document.concurrency": args.ns_writers,
        "full.document.write.batch": args.ns_batch,
        "full.document.parser": args.cores,
        "full.enable_index.user": "true",
        "full.executor.insert_on_dup_update": "true",
        "increase.concurrency": 16,
        "increase.executor.insert_on_dup_update": "true",
        "increase.executor.upsert": "true",
        "checkpoint.type": "file",
        "checkpoint.address": "",
        "checkpoint.db": os.path.join(tmp, "nimoshake-checkpoint"),  # the file checkpoint's folder
        "convert.type": args.ns_convert,
        "convert._id": "pre",
        "full.read.filter_expression": "",
        "full.read.filter_attributevalues": "",
    }
    with open(path, "w") as f:
        f.writelines(f"{key} = {value}\n" for key, value in settings.items())


#: NimoShake's log lines that bound its phases (its console log: "[time date] [INFO] (source) message").
MARKS = {"full_start": "start full sync---", "copy_start": "start fetcher with", "copy_end": "finish syncing table",
         "full_end": "full sync done"}


def nimoshake_copy(binary: str, source: DynamoDBLocal, target: MongoWireServer, args: argparse.Namespace,
                   tmp: str) -> dict[str, Any]:
    """One NimoShake run into ``NIMO_DB.SOURCE``: items (counted on the target), copy seconds (its log lines),
    full-sync seconds, wall seconds."""
    work = tempfile.mkdtemp(prefix="nimoshake-", dir=tmp)  # it writes its pid file into its working folder
    conf = os.path.join(work, "nimo-shake.conf")
    nimoshake_conf(conf, source, target, args, work)
    run = run_measured([binary, f"-conf={conf}"], cwd=work)
    lines = run["lines"]
    os.makedirs(BIN_DIR, exist_ok=True)
    with open(os.path.join(BIN_DIR, "last-run.log"), "w") as f:
        f.write(run["text"])
    stamps = {}
    for name, mark in MARKS.items():
        hits = [at for at, line in lines if mark in line]
        if hits:
            stamps[name] = hits[-1] if name == "copy_end" else hits[0]
    if run["code"] != 0 or len(stamps) < len(MARKS):
        raise RuntimeError(f"NimoShake failed (exit {run['code']}, log lines seen: {sorted(stamps)}):\n"
                           + "".join(line for _, line in lines[-60:]))
    items = target.client()[NIMO_DB][SOURCE].count_documents({})
    return {"items": items, "seconds": stamps["copy_end"] - stamps["copy_start"],
            "full": stamps["full_end"] - stamps["full_start"], "wall": run["wall"], "cpu": run["cpu"]}


def server_cpu(source: DynamoDBLocal, target: MongoWireServer) -> tuple[float, float]:
    """CPU seconds (user + system) so far of DynamoDB Local and of mongo-java-server."""
    import psutil

    return tuple(sum(psutil.Process(s.process.pid).cpu_times()[:2]) for s in (source, target))


def drop(target: MongoWireServer, database: str) -> None:
    client = target.client()
    try:
        client.drop_database(database)
    finally:
        client.close()


# --- exactness ----------------------------------------------------------------------------------------------------

NUMBER_TAG = "__dynamodb_number__"


class Tally:
    def __init__(self) -> None:
        self.numbers = self.numbers_changed = self.values = self.values_changed = 0
        self.docs = self.missing = 0
        self.stored: dict[str, int] = {}
        self.examples: list[str] = []

    def number(self, text: str, stored: Any, path: str) -> None:
        self.numbers += 1
        kind, exact = stored_number(stored)
        self.stored[kind] = self.stored.get(kind, 0) + 1
        if exact is None or exact != Decimal(text):
            self.numbers_changed += 1
            self.example(f"{path}: {text} stored as {kind} {stored!r} = {exact}")

    def value(self, same: bool, path: str, src: Any, stored: Any) -> None:
        self.values += 1
        if not same:
            self.values_changed += 1
            self.example(f"{path}: {str(src)[:60]} stored as {str(stored)[:60]}")

    def example(self, text: str) -> None:
        if len(self.examples) < 3:
            self.examples.append(text)


def stored_number(stored: Any) -> tuple[str, Decimal | None]:
    """The BSON type of a stored number and its exact value (None: not a number)."""
    from bson import Decimal128, Int64

    if isinstance(stored, bool):
        return "bool", None
    if isinstance(stored, Int64):
        return "int64", Decimal(int(stored))
    if isinstance(stored, int):
        return "int32", Decimal(stored)  # pymongo decodes a BSON int64 as Int64
    if isinstance(stored, float):
        return "double", Decimal(stored)  # the double's exact binary value
    if isinstance(stored, Decimal128):
        return "decimal128", stored.to_decimal()
    if isinstance(stored, dict) and set(stored) == {NUMBER_TAG}:
        return "tagged text", Decimal(stored[NUMBER_TAG])
    if isinstance(stored, str):
        try:
            return "text", Decimal(stored)
        except ArithmeticError:
            return "text", None
    return type(stored).__name__, None


def leaves(av: dict[str, Any]) -> tuple[int, int]:
    """(numbers, other values) in a DynamoDB JSON value."""
    ((tag, inner),) = av.items()
    if tag == "N":
        return 1, 0
    if tag == "NS":
        return len(inner), 0
    if tag in ("SS", "BS"):
        return 0, len(inner)
    if tag in ("L", "M"):
        parts = [leaves(v) for v in (inner if tag == "L" else inner.values())]
        if not parts:
            return 0, 1  # an empty list or map is one value
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
    return 0, 1


def lost(tally: Tally, av: dict[str, Any], path: str, stored: Any) -> None:
    numbers, values = leaves(av)
    tally.numbers += numbers
    tally.numbers_changed += numbers
    tally.values += values
    tally.values_changed += values
    if numbers:
        tally.stored["missing or other"] = tally.stored.get("missing or other", 0) + numbers
    tally.example(f"{path}: {str(av)[:60]} stored as {str(stored)[:60]}")


def field(stored: dict[str, Any], name: str) -> Any:
    """A field as either copier names it (the migrator escapes '.' and a leading '$' by default)."""
    escaped = name.replace(".", "\uff0e")
    for candidate in (name, "\uff04" + escaped[1:] if name.startswith("$") else escaped):
        if candidate in stored:
            return stored[candidate]
    return KeyError


def compare(tally: Tally, av: dict[str, Any], stored: Any, path: str) -> None:
    from bson import Binary

    ((tag, inner),) = av.items()
    if stored is KeyError:
        lost(tally, av, path, "(no field)")
    elif tag == "N":
        tally.number(inner, stored, path)
    elif tag == "S":
        tally.value(isinstance(stored, str) and stored == inner, path, inner, stored)
    elif tag == "B":
        tally.value(isinstance(stored, (bytes, Binary)) and bytes(stored) == bytes(inner), path, inner, stored)
    elif tag == "BOOL":
        tally.value(stored is inner or (isinstance(stored, bool) and stored == inner), path, inner, stored)
    elif tag == "NULL":
        tally.value(stored is None, path, "NULL", stored)
    elif tag in ("SS", "NS", "BS"):
        if isinstance(stored, dict) and "values" in stored:  # the migrator's sets: tagged
            stored = stored["values"]
        if not isinstance(stored, list):
            lost(tally, av, path, stored)
        elif tag == "NS":
            exact = {stored_number(v)[1] for v in stored}
            kinds = [stored_number(v)[0] for v in stored]
            for i, text in enumerate(inner):
                tally.numbers += 1
                kind = kinds[i] if i < len(kinds) else "missing or other"
                tally.stored[kind] = tally.stored.get(kind, 0) + 1
                if Decimal(text) not in exact or len(stored) != len(inner):
                    tally.numbers_changed += 1
                    tally.example(f"{path}: set element {text} not among {stored!r}"[:160])
        else:
            have = {bytes(v) if isinstance(v, (bytes, Binary)) else v for v in stored}
            for v in inner:
                tally.value((bytes(v) if tag == "BS" else v) in have and len(stored) == len(inner), path, v, stored)
    elif tag == "L":
        if not isinstance(stored, list) or len(stored) != len(inner):
            lost(tally, av, path, stored)
        elif not inner:
            tally.value(True, path, inner, stored)
        else:
            for i, (v, s) in enumerate(zip(inner, stored)):
                compare(tally, v, s, f"{path}[{i}]")
    elif tag == "M":
        if not isinstance(stored, dict):
            lost(tally, av, path, stored)
        elif not inner:
            tally.value(stored == {}, path, inner, stored)
        else:
            for k, v in inner.items():
                compare(tally, v, field(stored, k), f"{path}.{k}")


def exactness(target: MongoWireServer, database: str, items: dict[tuple, dict[str, Any]], limit: int) -> Tally:
    """Every document of ``database.SOURCE`` (at most ``limit`` if > 0) against its source item."""
    tally = Tally()
    client = target.client()
    seen = 0
    try:
        for doc in client[database][SOURCE].find({}, batch_size=500):
            kind, sk = stored_number(doc.get("sk"))
            item = items.get((doc.get("pk"), sk))
            if item is None:
                continue
            seen += 1
            tally.docs += 1
            for name, av in item.items():
                compare(tally, av, field(doc, name), name)
            if limit and seen >= limit:
                break
    finally:
        client.close()
    if not limit:
        tally.missing = len(items) - seen
    return tally


def describe(name: str, t: Tally) -> str:
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(t.stored.items(), key=lambda kv: -kv[1]))
    return (f"{name}: {t.numbers_changed:,} of {t.numbers:,} numbers changed (stored as {kinds}); "
            f"{t.values_changed:,} of {t.values:,} other values changed; {t.docs:,} documents compared, "
            f"{t.missing:,} missing" + (f"; e.g. {' | '.join(t.examples)}" if t.examples else ""))


# --- main ---------------------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--nimoshake-src", help="a checkout of https://github.com/alibaba/NimoShake (built with go)")
    where.add_argument("--nimoshake-bin", help="a NimoShake binary built elsewhere")
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2,
                        help="the migrator's Spark cores and Scan segments; NimoShake's Scan segments and parsers")
    parser.add_argument("--ns-writers", type=int, default=4, help="NimoShake's full.document.concurrency")
    parser.add_argument("--ns-batch", type=int, default=1000, help="NimoShake's full.document.write.batch")
    parser.add_argument("--ns-scan-limit", type=int, default=128, help="NimoShake's qps.full.batch_num (Scan Limit)")
    parser.add_argument("--ns-convert", choices=["mchange", "change"], default="mchange",
                        help="NimoShake's convert.type (mchange, its default: numbers as doubles)")
    parser.add_argument("--migrator-source", default="",
                        help="more YAML for the migrator's source mapping, e.g. 'readThroughput: 100000000'")
    parser.add_argument("--check-docs", type=int, default=0,
                        help="documents compared per copy for exactness (0: all)")
    parser.add_argument("--no-edge-items", action="store_true", help="leave out datagen.all_types_items")
    args = parser.parse_args()

    binary = os.path.abspath(args.nimoshake_bin) if args.nimoshake_bin else build_nimoshake(args.nimoshake_src)
    source, target = DynamoDBLocal().start(), MongoWireServer().start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-nimoshake-") as tmp:
            items = datagen.generate_items(args.items, seed=3)
            edge = [] if args.no_edge_items else datagen.all_types_items()
            print(f"loading {len(items) + len(edge):,} items ({args.items:,} of mixed sizes"
                  f"{'' if args.no_edge_items else ' + 9 with every type and edge case'})...", flush=True)
            datagen.create_table(source.client(), SOURCE)
            datagen.put_items(source.client(), SOURCE, items, threads=8)
            # DynamoDB Local and mongo-java-server are JVMs: whoever copies first would pay for their JIT warm-up.
            # bench.snapshot's plain copier (which cannot take the edge items' 38-digit integers) warms them up.
            print("warming up both servers with an untimed plain copy...", flush=True)
            baseline_copy(source, target, "warmup", args.cores, 4)
            drop(target, "bench")
            datagen.put_items(source.client(), SOURCE, edge)
            items += edge
            by_key = {(item["pk"]["S"], Decimal(item["sk"]["N"])): item for item in items}
            del items, edge
            settle(source, target)
            print(f"NimoShake settings: full.read.concurrency={args.cores} full.document.parser={args.cores} "
                  f"full.document.concurrency={args.ns_writers} full.document.write.batch={args.ns_batch} "
                  f"qps.full.batch_num={args.ns_scan_limit} convert.type={args.ns_convert}; "
                  f"migrator local[{args.cores}], {args.cores} segments, target defaults"
                  f"{', source ' + args.migrator_source if args.migrator_source else ''}", flush=True)
            rows, checked = [], None
            for r in range(args.rounds):
                results: dict[str, dict[str, Any]] = {}
                for who in (("migrator", "nimoshake") if r % 2 == 0 else ("nimoshake", "migrator")):
                    database = MIGRATOR_DB if who == "migrator" else NIMO_DB
                    before = server_cpu(source, target)
                    results[who] = (migrator_copy(source, target, args.cores, tmp, args.migrator_source)
                                    if who == "migrator" else nimoshake_copy(binary, source, target, args, tmp))
                    results[who]["servers"] = [b - a for a, b in zip(before, server_cpu(source, target))]
                    results[who]["docs"] = target.client()[database][SOURCE].count_documents({})
                    if r == 0:
                        tally = exactness(target, database, by_key, args.check_docs)
                        results[who]["tally"] = tally
                    drop(target, database)
                    settle(source, target)
                m, n = results["migrator"], results["nimoshake"]
                m_rate, n_rate = m["items"] / m["seconds"], n["items"] / n["seconds"]
                rows.append((m_rate, n_rate, m["items"] / m["wall"], n["items"] / n["wall"]))
                print(f"round {r + 1}: migrator {m['items']:,} items in {m['seconds']:.1f} s = {m_rate:,.0f} items/s "
                      f"(process {m['wall']:.1f} s, {m['docs']:,} documents, {m['dead']:,} dead-lettered); "
                      f"NimoShake {n['items']:,} items in {n['seconds']:.1f} s = {n_rate:,.0f} items/s "
                      f"(full sync {n['full']:.1f} s incl. its 10 s wait, process {n['wall']:.1f} s); "
                      f"ratio {m_rate / n_rate:.2f}", flush=True)
                for name, c in (("migrator", m), ("NimoShake", n)):
                    print(f"  CPU seconds over the whole {name} process: {name} {c['cpu']:.1f} (process tree), "
                          f"DynamoDB Local {c['servers'][0]:.1f}, mongo-java-server {c['servers'][1]:.1f}",
                          flush=True)
                if r == 0:
                    checked = m["tally"]
                    print("exactness (round 1's copies, each document against its source item):")
                    print("  " + describe("migrator", m["tally"]))
                    print("  " + describe("NimoShake", n["tally"]), flush=True)
            m_med = statistics.median(row[0] for row in rows)
            n_med = statistics.median(row[1] for row in rows)
            ratio = statistics.median(row[0] / row[1] for row in rows)
            print(f"RESULT items={len(by_key):,} cores={args.cores}: migrator {m_med:,.0f} items/s, NimoShake "
                  f"{n_med:,.0f} items/s, median ratio {ratio:.2f} over {len(rows)} rounds (copy times, each "
                  f"copier's own); whole processes: migrator {statistics.median(row[2] for row in rows):,.0f}, "
                  f"NimoShake {statistics.median(row[3] for row in rows):,.0f} items/s")
            t = checked
            exact = t is not None and t.numbers_changed == t.values_changed == t.missing == 0
            faster = m_med >= n_med
            print("target met" if faster and exact else "target NOT met (" + " and ".join(
                why for why, bad in (("slower", not faster), ("the migrator's copy is not exact", not exact)) if bad)
                + ")")
    finally:
        source.stop()
        target.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
