"""The target collection: what to do when it exists, and the indexes that mirror the table's.

Every global and local secondary index becomes a MongoDB index on the same key attributes (after
renames, with escaped names); a mapped TTL attribute becomes a TTL index on its date field. A MongoDB
source's indexes are recreated with their options (unique, TTL, partial, sparse, collation...).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...errors import TargetError
from ...tables import TableInfo
from .documents import BsonPolicy, field_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CollectionPlan:
    """What the job will do with the collection (the MongoDB counterpart of ``TargetPlan``).

    ``action``: ``create`` (missing), ``use`` (exists, empty or ``append``), ``resume`` (a savepoint
    of this migration exists: always kept), ``drop`` or ``rename`` (``target.exists``).
    """

    action: str
    table: str
    database: str
    existing_count: int = 0
    indexes: list[tuple[str, list[tuple[str, Any]]]] = field(default_factory=list)
    #: Options of indexes by name (a MongoDB source's: unique, TTL, partial...).
    index_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    ttl_field: str | None = None
    problems: list[str] = field(default_factory=list)
    rename_to: str | None = None

    def lines(self) -> list[str]:
        where = f"{self.database}.{self.table}"
        if self.problems:
            return [f"  target       : INCOMPATIBLE: {p}" for p in self.problems]
        what = {
            "create": f"will create {where}",
            "use": f"{where} exists ({self.existing_count:,} documents); writing into it",
            "resume": f"{where} kept: resuming this migration",
            "drop": f"{where} exists ({self.existing_count:,} documents): will be DROPPED and created again",
            "rename": f"{where} exists: will be renamed to {self.rename_to}, then created again",
        }[self.action]
        out = [f"  target       : {what}"]
        if self.indexes:
            out.append("  indexes      : " + "; ".join(
                f"{name} ({', '.join(k for k, _ in keys)}{''.join(', ' + o for o in self.index_options.get(name, {}))})"
                for name, keys in self.indexes))
        if self.ttl_field:
            out.append(f"                 and a TTL index on {self.ttl_field}")
        return out


def index_specs(source: TableInfo, renames: Mapping[str, str], policy: BsonPolicy) -> list[tuple[str, list[tuple[str, Any]]]]:
    """One MongoDB index per GSI and LSI, on the same key attributes, named like the DynamoDB index; a MongoDB
    source's own indexes as they are."""
    specs: list[tuple[str, list[tuple[str, Any]]]] = [
        (index["name"], [(name, direction) for name, direction in index["key"]]) for index in source.document_indexes]
    for index in source.global_indexes + source.local_indexes:
        keys = [(field_name(renames.get(k["AttributeName"], k["AttributeName"]), policy, k["AttributeName"], top=True), 1)
                for k in index["KeySchema"]]
        specs.append((index["IndexName"], keys))
    return specs


def plan_collection(client: Any, database: str, collection: str, exists_policy: str, source: TableInfo,
                    renames: Mapping[str, str], policy: BsonPolicy, resuming: bool,
                    now: float | None = None) -> CollectionPlan:
    """Look at the collection and decide; nothing is changed here (the dry run uses this too)."""
    db = client[database]
    present = collection in db.list_collection_names()
    count = db[collection].estimated_document_count() if present else 0
    common = dict(table=collection, database=database, existing_count=count,
                  indexes=index_specs(source, renames, policy), ttl_field=policy.ttl_field,
                  index_options={i["name"]: i["options"] for i in source.document_indexes})
    if not present:
        return CollectionPlan("create", **common)
    if resuming:
        return CollectionPlan("resume", **common)
    if count == 0 or exists_policy == "append":
        return CollectionPlan("use", **common)
    if exists_policy == "drop":
        return CollectionPlan("drop", **common)
    if exists_policy == "rename":
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(now))
        return CollectionPlan("rename", rename_to=f"{collection}_{stamp}", **common)
    return CollectionPlan("use", problems=[
        f"collection {database}.{collection} exists with ~{count:,} documents; set target.exists to drop, rename "
        "or append (a rerun of an interrupted migration keeps it without asking)"], **common)


def prepare_collection(client: Any, plan: CollectionPlan) -> None:
    """Carry out the plan: drop or rename the old collection, create the new one and its indexes."""
    if plan.problems:
        raise TargetError("; ".join(plan.problems), plan.table)
    db = client[plan.database]
    if plan.action == "drop":
        log.warning("dropping collection %s.%s (%d documents), as target.exists says", plan.database, plan.table,
                    plan.existing_count)
        db.drop_collection(plan.table)
    elif plan.action == "rename":
        log.warning("renaming collection %s.%s to %s, as target.exists says", plan.database, plan.table, plan.rename_to)
        db[plan.table].rename(plan.rename_to)
    if plan.table not in db.list_collection_names():
        db.create_collection(plan.table)
    collection = db[plan.table]
    for name, keys in plan.indexes:
        collection.create_index(keys, name=name, **plan.index_options.get(name, {}))
    if plan.ttl_field:
        collection.create_index([(plan.ttl_field, 1)], name=f"{plan.ttl_field}_ttl", expireAfterSeconds=0)
    log.info("collection %s.%s ready (%d indexes)", plan.database, plan.table,
             len(plan.indexes) + (1 if plan.ttl_field else 0))
