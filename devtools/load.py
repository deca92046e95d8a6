"""A steady write load on a DynamoDB table: random puts, updates and deletes on a fixed key set.

Used by the streaming tests, the demo and bench/stream.py. Each written item carries ``written_at``
(epoch seconds as a number), so that replication lag can be measured on the target.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any


class LoadGenerator(threading.Thread):
    """Applies ``rate`` operations a second until :meth:`stop`; deterministic for a seed.

    Parameters
    ----------
    keys : int
        Operations pick keys ``item#<n>`` with n in ``range(keys)`` (the ``pk`` of
        :func:`devtools.datagen.generate_items`, with ``sk`` = n mod 7).
    mix : tuple
        Shares of puts, updates and deletes.
    """

    def __init__(self, client: Any, table: str, keys: int = 10_000, rate: float = 100.0, seed: int = 7,
                 mix: tuple[float, float, float] = (0.5, 0.3, 0.2), hash_only: bool = False, batch: int = 1):
        super().__init__(name=f"load-{table}", daemon=True)
        self.client, self.table, self.keys, self.rate = client, table, keys, rate
        self.rng = random.Random(seed)
        self.mix = mix
        self.hash_only = hash_only
        self.batch = batch
        self.done = threading.Event()
        self.ops = {"put": 0, "update": 0, "delete": 0}
        self.error: BaseException | None = None

    def key(self, n: int) -> dict:
        key = {"pk": {"S": f"item#{n:08d}"}}
        if not self.hash_only:
            key["sk"] = {"N": str(n % 7)}
        return key

    def run(self) -> None:
        next_at = time.monotonic()
        try:
            while not self.done.is_set():
                if self.batch > 1:
                    self.many()
                else:
                    self.one()
                next_at += self.batch / self.rate
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.done.wait(delay)  # pacing the load, not waiting for a condition
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.error = exc

    def one(self) -> None:
        n = self.rng.randrange(self.keys)
        key = self.key(n)
        roll = self.rng.random()
        now = repr(time.time())
        if roll < self.mix[0]:
            item = {**key, "v": {"N": str(self.rng.randrange(10**9))}, "written_at": {"N": now},
                    "payload": {"S": "p" * self.rng.randrange(10, 400)},
                    "tags": {"SS": [f"t{self.rng.randrange(9)}", "x"]}}
            self.client.put_item(TableName=self.table, Item=item)
            self.ops["put"] += 1
        elif roll < self.mix[0] + self.mix[1]:
            self.client.update_item(TableName=self.table, Key=key,
                                    UpdateExpression="SET written_at = :w ADD hits :one",
                                    ExpressionAttributeValues={":w": {"N": now}, ":one": {"N": "1"}})
            self.ops["update"] += 1
        else:
            self.client.delete_item(TableName=self.table, Key=key)
            self.ops["delete"] += 1

    def many(self) -> None:
        """One BatchWriteItem of ``batch`` puts and deletes on distinct keys (for high rates;
        BatchWriteItem has no updates)."""
        requests = []
        for n in self.rng.sample(range(self.keys), self.batch):
            key = self.key(n)
            if self.rng.random() < self.mix[0] + self.mix[1]:
                item = {**key, "v": {"N": str(self.rng.randrange(10**9))}, "written_at": {"N": repr(time.time())},
                        "payload": {"S": "p" * self.rng.randrange(10, 400)}}
                requests.append({"PutRequest": {"Item": item}})
                self.ops["put"] += 1
            else:
                requests.append({"DeleteRequest": {"Key": key}})
                self.ops["delete"] += 1
        while requests:
            answer = self.client.batch_write_item(RequestItems={self.table: requests})
            requests = answer.get("UnprocessedItems", {}).get(self.table, [])

    def stop(self) -> dict:
        self.done.set()
        self.join(timeout=30)
        if self.error is not None:
            raise self.error
        return dict(self.ops)
