"""The target table: the ``CreateTable`` request that mirrors the source, and the key check.

The request is built by a pure function (:func:`create_table_request`) so that the dry run shows
exactly what a real run would send, and tests can check it without a server.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ...clients import error_code
from ...errors import TargetError
from ...tables import TableInfo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetPlan:
    """What the job will do with the target table.

    Attributes
    ----------
    action : str
        ``"create"`` (missing, will be created from ``request``) or ``"use"`` (exists, compatible).
    request : dict
        The CreateTable parameters (for ``"create"``).
    ttl_attribute : str or None
        TTL attribute to enable on the new table.
    existing : TableInfo or None
        The table found (for ``"use"``).
    problems : list of str
        Incompatibilities found; the job stops when there are any.
    """

    action: str
    table: str
    request: dict[str, Any] = field(default_factory=dict)
    ttl_attribute: str | None = None
    existing: TableInfo | None = None
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.problems:
            return [f"  target table : INCOMPATIBLE: {p}" for p in self.problems]
        if self.action == "create":
            out = [f"  target table : will create {self.table}: {describe_request(self.request)}"]
            if self.ttl_attribute:
                out.append(f"                 and enable TTL on {self.ttl_attribute}")
            return out
        return [f"  target table : {self.table} exists (~{self.existing.item_count:,} items); key schema matches"]


def create_table_request(
    source: TableInfo,
    table: str,
    renames: Mapping[str, str],
    billing_mode: str | None = None,
    write_throughput: int | None = None,
) -> dict[str, Any]:
    """CreateTable parameters for a target that mirrors ``source`` (after attribute renames).

    Key schema, attribute definitions, GSIs and LSIs with their projections are copied; the billing
    mode is ``billing_mode`` or the source's. A provisioned target takes the source's capacity
    (``write_throughput`` overrides the write side); 1 where the source has none (on-demand).
    """

    def rn(name: str) -> str:
        return renames.get(name, name)

    mode = billing_mode or source.billing_mode
    request: dict[str, Any] = {
        "TableName": table,
        "KeySchema": [{"AttributeName": rn(n), "KeyType": t} for n, t in source.key_schema],
        "AttributeDefinitions": [
            {"AttributeName": rn(n), "AttributeType": t} for n, t in sorted(source.attribute_types.items())
        ],
        "BillingMode": mode,
    }
    if mode == "PROVISIONED":
        request["ProvisionedThroughput"] = {
            "ReadCapacityUnits": source.read_capacity or 1,
            "WriteCapacityUnits": write_throughput or source.write_capacity or 1,
        }
    gsis = []
    for index in source.global_indexes:
        out = _renamed_index(index, rn)
        if mode == "PROVISIONED":
            out["ProvisionedThroughput"] = index.get(
                "ProvisionedThroughput", request["ProvisionedThroughput"]
            )
        else:
            out.pop("ProvisionedThroughput", None)
        gsis.append(out)
    if gsis:
        request["GlobalSecondaryIndexes"] = gsis
    if source.local_indexes:
        request["LocalSecondaryIndexes"] = [_renamed_index(i, rn) for i in source.local_indexes]
    return request


def _renamed_index(index: dict[str, Any], rn: Callable[[str], str]) -> dict[str, Any]:
    out = dict(index)
    out["KeySchema"] = [{"AttributeName": rn(k["AttributeName"]), "KeyType": k["KeyType"]} for k in index["KeySchema"]]
    projection = dict(index["Projection"])
    if "NonKeyAttributes" in projection:
        projection["NonKeyAttributes"] = [rn(a) for a in projection["NonKeyAttributes"]]
    out["Projection"] = projection
    return out


def key_problems(source: TableInfo, target: TableInfo, renames: Mapping[str, str]) -> list[str]:
    """Why items of ``source`` cannot be written to the existing ``target`` by primary key."""
    expected = [(renames.get(n, n), t, source.attribute_types.get(n)) for n, t in source.key_schema]
    found = [(n, t, target.attribute_types.get(n)) for n, t in target.key_schema]
    if expected == found:
        return []

    def show(keys: list[tuple[str, str, str | None]]) -> str:
        return ", ".join(f"{n} {t} ({ty})" for n, t, ty in keys)

    return [
        f"target table {target.name!r} exists with key schema [{show(found)}] but the source "
        f"(after renames) has [{show(expected)}]; drop or rename the target table, or set target.table "
        "to a new name"
    ]


def plan_target(
    source: TableInfo,
    existing: TableInfo | None,
    table: str,
    renames: Mapping[str, str],
    billing_mode: str | None,
    write_throughput: int | None,
) -> TargetPlan:
    """Decide whether to create the target or use the existing one, and check compatibility."""
    ttl = renames.get(source.ttl_attribute, source.ttl_attribute) if source.ttl_attribute else None
    if existing is None:
        request = create_table_request(source, table, renames, billing_mode, write_throughput)
        return TargetPlan("create", table, request=request, ttl_attribute=ttl)
    return TargetPlan("use", table, existing=existing, ttl_attribute=ttl,
                      problems=key_problems(source, existing, renames))


def create_target_table(
    client: Any,
    plan: TargetPlan,
    tolerate_missing_ttl: bool,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 600.0,
) -> None:
    """Create the table of ``plan``, wait until it and its indexes are ACTIVE, then enable TTL.

    Parameters
    ----------
    tolerate_missing_ttl : bool
        For Alternator versions without the TTL API: warn instead of failing.
    """
    name = plan.table
    log.info("creating target table %s (%s)", name, describe_request(plan.request))
    try:
        client.create_table(**plan.request)
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":
            raise TargetError(f"cannot create target table {name!r}: {exc}", name) from exc
        log.info("target table %s was created meanwhile by someone else; using it", name)
    deadline = time.monotonic() + timeout
    while True:
        table = client.describe_table(TableName=name)["Table"]
        indexes = table.get("GlobalSecondaryIndexes", [])
        if table.get("TableStatus") == "ACTIVE" and all(i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes):
            break
        if time.monotonic() > deadline:
            raise TargetError(f"target table {name!r} did not become ACTIVE within {timeout:.0f} s", name)
        log.info("waiting for target table %s to become ACTIVE (now %s)", name, table.get("TableStatus"))
        sleep(2.0)
    if plan.ttl_attribute:
        try:
            client.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": plan.ttl_attribute}
            )
            log.info("enabled TTL on target table %s (attribute %s)", name, plan.ttl_attribute)
        except Exception as exc:
            if not tolerate_missing_ttl:
                raise TargetError(f"cannot enable TTL on target table {name!r}: {exc}", name) from exc
            log.warning("could not enable TTL on target table %s (%s); expired items will stay", name, exc)


def describe_request(request: Mapping[str, Any]) -> str:
    """A one-line summary of a CreateTable request, for plans and logs."""
    keys = ", ".join(f"{k['AttributeName']} {k['KeyType']}" for k in request["KeySchema"])
    parts = [f"key [{keys}]", request["BillingMode"]]
    if "ProvisionedThroughput" in request:
        t = request["ProvisionedThroughput"]
        parts[-1] += f" {t['ReadCapacityUnits']} RCU / {t['WriteCapacityUnits']} WCU"
    for kind, label in (("GlobalSecondaryIndexes", "GSI"), ("LocalSecondaryIndexes", "LSI")):
        for index in request.get(kind, []):
            ikeys = "/".join(k["AttributeName"] for k in index["KeySchema"])
            parts.append(f"{label} {index['IndexName']} ({ikeys}, {index['Projection']['ProjectionType']})")
    return "; ".join(parts)
