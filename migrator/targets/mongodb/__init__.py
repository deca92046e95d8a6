"""A MongoDB collection as the target: ``target.type: mongodb``.

``documents.py`` maps DynamoDB items to BSON documents and back, ``collection.py`` decides and
prepares the collection and its indexes, ``writer.py`` writes it in bulk by a derived ``_id``.
Importing this package needs pymongo (the ``mongodb`` extra).
"""

from __future__ import annotations

from typing import Any

from ...sources.mongodb.ranges import range_partitions
from ...tables import TableInfo
from ...throttle import ThroughputCap
from ..base import PlannedTarget
from .collection import plan_collection, prepare_collection
from .documents import BsonPolicy
from .writer import MongoTargetSpec

#: Documents per validation read partition, about.
DOCUMENTS_PER_PARTITION = 10_000


class MongoBackend:
    """Plans and prepares a MongoDB collection; MongoDB has no capacity units to cap."""

    def plan(self, config: Any, source: TableInfo, key_names: list[str], resuming: bool,
             now: float | None = None) -> PlannedTarget:
        tgt = config.target
        spec = _spec(config, source, key_names)
        client = spec.client()
        try:
            plan = plan_collection(client, tgt.database, config.target_table, tgt.exists, source, config.rename_map,
                                   spec.policy, resuming, now)
        finally:
            client.close()
        return PlannedTarget(plan, spec)

    def permissions(self, config: Any) -> list[Any]:
        return []  # MongoDB's own users and roles: checked by preflight

    def preflight(self, config: Any, source: TableInfo | None) -> list[Any]:
        from .preflight import preflight

        return preflight(config, _spec(config, source, []))

    def prepare(self, config: Any, planned: PlannedTarget) -> None:
        client = planned.spec.client()
        try:
            prepare_collection(client, planned.plan)
        finally:
            client.close()

    def write_cap(self, config: Any, planned: PlannedTarget, tasks: int) -> ThroughputCap:
        return ThroughputCap(None, None, "MongoDB: no capacity units")

    def writes_line(self, config: Any) -> str:
        tgt = config.target
        return (f"bulk writes of up to {tgt.batch_size:,} documents / {tgt.batch_bytes:,} bytes, "
                f"{tgt.write_concurrency} in flight per task")

    def read_partitions(self, config: Any, spec: MongoTargetSpec, cores: int) -> tuple[list[Any], int]:
        """Ranges of ``_id`` of about equal size, found by skipping through the ``_id`` index (a MongoDB source's
        collection: sampled across every ``_id`` type, as the source's own ranges are)."""
        client = spec.client()
        try:
            collection = client[spec.database][spec.collection]
            count = collection.estimated_document_count()
            if spec.documents:
                return range_partitions(collection, cores * 2, count), count
            parts = max(1, min(cores * 2, count // DOCUMENTS_PER_PARTITION + 1))
            bounds = [None]
            for i in range(1, parts):
                found = list(collection.find({}, {"_id": 1}).sort("_id", 1).skip(i * count // parts).limit(1))
                if found and found[0]["_id"] != bounds[-1]:
                    bounds.append(found[0]["_id"])
            bounds.append(None)
        finally:
            client.close()
        return list(zip(bounds, bounds[1:])), count

    def finish(self, config: Any, planned: PlannedTarget, savepoint: Any) -> None:
        """Nothing more to write once the items are in."""


def _spec(config: Any, source: TableInfo | None, key_names: list[str]) -> MongoTargetSpec:
    tgt = config.target
    renames = config.rename_map
    ttl = renames.get(source.ttl_attribute, source.ttl_attribute) if source and source.ttl_attribute else None
    policy = BsonPolicy(on_overflow=tgt.numbers.on_overflow, sets=tgt.sets, field_names=tgt.field_names,
                        ttl_attribute=ttl if tgt.ttl_field else None, ttl_field=tgt.ttl_field if ttl else None)
    return MongoTargetSpec(uri=tgt.uri, database=tgt.database, collection=config.target_table,
                           key_names=key_names, policy=policy, batch_size=tgt.batch_size,
                           batch_bytes=tgt.batch_bytes, concurrency=tgt.write_concurrency,
                           write_concern=tgt.write_concern.options() if tgt.write_concern else {},
                           redacted_uri=tgt.redacted_uri(), documents=config.source.type == "mongodb")


BACKEND = MongoBackend()
