"""What ``migrator check`` tries on a MongoDB target: the server answers, and the user's privileges
(``connectionStatus``) cover what the job does to the collection. Nothing is written."""

from __future__ import annotations

from typing import Any

from ...mongo_access import access_status, privileges_finding
from ...preflight import Finding, Prober

#: What the job does to the collection, as MongoDB names the actions (the readWrite role has them all).
ACTIONS = ("find", "insert", "update", "remove", "createCollection", "createIndex")


def needed_actions(exists: str) -> tuple[str, ...]:
    """``target.exists: drop`` drops the collection, ``rename`` renames it away (renameCollectionSameDB)."""
    extra = {"drop": ("dropCollection",), "rename": ("renameCollectionSameDB",)}.get(exists, ())
    return ACTIONS + extra


def preflight(config: Any, spec: Any) -> list[Finding]:
    tgt = config.target
    prober = Prober("target", spec.redacted_uri)
    client = spec.client(server_selection_ms=5_000)
    try:
        status = access_status(client, prober, spec.redacted_uri, "target.uri")
    finally:
        client.close()
    if status is not None:
        privileges_finding(prober, status, spec.redacted_uri, tgt.database, config.target_table,
                           needed_actions(tgt.exists), "readWrite")
    return prober.findings
