"""A KCL-style stream consumer: the model behind Scylla Migrator's replication and Lambda triggers.

One poller thread per shard lease: GetRecords, apply the page (last change per key, BatchWriteItem
of 25), poll again at once after a full page, else after ``poll_seconds`` (KCL's
``idleTimeBetweenReadsInMillis``, 1 s). A child shard is leased once its parent's poller reached the
parent's end; shards are discovered when a lease ends and every ``discovery_seconds``.
``LimitExceededException`` is retried after a backoff. Lag is measured as migrator measures it:
each record's ``ApproximateCreationDateTime`` to the moment its page was written.

Used by ``bench/stream_scale.py`` as the baseline measured in the same run.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from migrator.lag import LagHistogram


class KclStyleConsumer:
    def __init__(self, streams: Any, target: Any, stream_arn: str, table: str, key_names: tuple[str, ...] = ("pk",),
                 poll_seconds: float = 1.0, discovery_seconds: float = 10.0, min_call_spacing: float = 0.21):
        self.streams, self.target = streams, target
        self.stream_arn, self.table, self.key_names = stream_arn, table, key_names
        self.poll_seconds, self.discovery_seconds = poll_seconds, discovery_seconds
        self.min_call_spacing = min_call_spacing
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.lags = LagHistogram()
        self.applied = 0
        self.throttles = 0
        self.calls = 0
        self.errors: list[BaseException] = []
        self._leased: set[str] = set()
        self._finished: set[str] = set()
        self._shards: dict[str, dict] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> "KclStyleConsumer":
        self._discover()
        threading.Thread(target=self._discovery_loop, name="kcl-discovery", daemon=True).start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for thread in list(self._threads):
            thread.join(timeout=30)

    def _retry(self, fn: Callable[[], Any]) -> Any:
        delay = 0.05
        while True:
            try:
                with self.lock:
                    self.calls += 1
                return fn()
            except Exception as exc:  # noqa: BLE001 - only throttling is retried
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if code not in ("LimitExceededException", "ProvisionedThroughputExceededException",
                                "ThrottlingException"):
                    raise
                with self.lock:
                    self.throttles += 1
                self.stop_event.wait(delay)
                delay = min(delay * 2, 2.0)

    def _discover(self) -> None:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._retry(lambda: self.streams.describe_stream(**kwargs))["StreamDescription"]
            for shard in description.get("Shards", []):
                self._shards[shard["ShardId"]] = shard
            if not description.get("LastEvaluatedShardId"):
                break
            kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        with self.lock:
            for sid, shard in sorted(self._shards.items()):
                parent = shard.get("ParentShardId")
                ready = parent is None or parent in self._finished or parent not in self._shards
                if sid not in self._leased and sid not in self._finished and ready:
                    self._leased.add(sid)
                    thread = threading.Thread(target=self._guarded, args=(sid,), name=f"kcl-{sid}", daemon=True)
                    self._threads.append(thread)
                    thread.start()

    def _discovery_loop(self) -> None:
        while not self.stop_event.wait(self.discovery_seconds):
            self._guarded_discover()

    def _guarded_discover(self) -> None:
        try:
            self._discover()
        except BaseException as exc:  # noqa: BLE001 - reported by the bench
            if not self.stop_event.is_set():
                self.errors.append(exc)

    def _guarded(self, shard_id: str) -> None:
        try:
            self._poll(shard_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the bench
            if not self.stop_event.is_set():
                self.errors.append(exc)

    def _poll(self, shard_id: str) -> None:
        iterator = self._retry(lambda: self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"))["ShardIterator"]
        last_call = 0.0
        while iterator and not self.stop_event.is_set():
            wait = last_call + self.min_call_spacing - time.monotonic()
            if wait > 0:
                self.stop_event.wait(wait)
            last_call = time.monotonic()
            current = iterator
            page = self._retry(lambda: self.streams.get_records(ShardIterator=current, Limit=1000))
            records = page.get("Records", [])
            if records:
                self._apply(records)
            iterator = page.get("NextShardIterator")
            if iterator and len(records) < 1000:
                self.stop_event.wait(self.poll_seconds)
        if iterator is None:
            with self.lock:
                self._finished.add(shard_id)
            self._guarded_discover()  # the parent ended: lease its children

    def _apply(self, records: list[dict]) -> None:
        latest: dict[tuple, dict] = {}
        for record in records:
            data = record["dynamodb"]
            latest[tuple(str(data["Keys"][k]) for k in self.key_names)] = data
        requests = []
        for data in latest.values():
            if "NewImage" in data:
                image = {k: (v if v else {"M": {}}) for k, v in data["NewImage"].items()}
                requests.append({"PutRequest": {"Item": image}})
            else:
                requests.append({"DeleteRequest": {"Key": data["Keys"]}})
        for i in range(0, len(requests), 25):
            chunk = requests[i:i + 25]
            while chunk:
                answer = self._retry(lambda: self.target.batch_write_item(RequestItems={self.table: chunk}))
                chunk = answer.get("UnprocessedItems", {}).get(self.table, [])
        written = time.time()
        lags = LagHistogram()
        lags.add_all(written - r["dynamodb"]["ApproximateCreationDateTime"].timestamp() for r in records)
        with self.lock:
            self.lags.merge(lags)
            self.applied += len(records)
