"""What ``migrator check`` tries on a MongoDB target: the server answers, and the user's privileges
(``connectionStatus``) cover what the job does to the collection. Nothing is written."""

from __future__ import annotations

from typing import Any

from ...preflight import Finding, Prober

#: What the job does to the collection, as MongoDB names the actions (the readWrite role has them all).
ACTIONS = ("find", "insert", "update", "remove", "createCollection", "createIndex")


def needed_actions(exists: str) -> tuple[str, ...]:
    """``target.exists: drop`` drops the collection, ``rename`` renames it away (renameCollectionSameDB)."""
    extra = {"drop": ("dropCollection",), "rename": ("renameCollectionSameDB",)}.get(exists, ())
    return ACTIONS + extra


def missing_actions(privileges: list[dict[str, Any]], database: str, collection: str,
                    needed: tuple[str, ...]) -> list[str]:
    """The ``needed`` actions that no privilege grants on ``database.collection``."""
    granted: set[str] = set()
    for privilege in privileges:
        resource = privilege.get("resource", {})
        if resource.get("anyResource") or (resource.get("db") in (database, "")
                                           and resource.get("collection") in (collection, "")):
            granted.update(privilege.get("actions", []))
    return [a for a in needed if a not in granted]


def preflight(config: Any, spec: Any) -> list[Finding]:
    from pymongo.errors import OperationFailure, PyMongoError

    tgt = config.target
    prober = Prober("target", spec.redacted_uri)
    client = spec.client(server_selection_ms=5_000)
    try:
        client.admin.command("ping")
        status = client.admin.command({"connectionStatus": 1, "showPrivileges": True})["authInfo"]
    except OperationFailure as exc:
        prober.problem(f"{spec.redacted_uri} refuses: {exc.details.get('errmsg', exc) if exc.details else exc}; "
                       "check the user and password of target.uri")
        return prober.findings
    except PyMongoError as exc:
        prober.problem(f"cannot reach {spec.redacted_uri} ({type(exc).__name__}: {str(exc)[:200]}); check target.uri "
                       "and the network")
        return prober.findings
    finally:
        client.close()
    users = [f"{u.get('user')}@{u.get('db')}" for u in status.get("authenticatedUsers", [])]
    if not users:
        prober.ok(f"{spec.redacted_uri} answers; no user authenticated (the server asks for none)")
        return prober.findings
    roles = ", ".join(f"{r.get('role')}@{r.get('db')}" for r in status.get("authenticatedUserRoles", []))
    missing = missing_actions(status.get("authenticatedUserPrivileges", []), tgt.database, config.target_table,
                              needed_actions(tgt.exists))
    where = f"{tgt.database}.{config.target_table}"
    if missing:
        prober.problem(f"user {', '.join(users)} (roles {roles or 'none'}) may not {', '.join(missing)} on {where}; "
                       f"grant it the readWrite role on database {tgt.database!r}")
    else:
        prober.ok(f"user {', '.join(users)} (roles {roles}) may {', '.join(needed_actions(tgt.exists))} on {where}")
    return prober.findings
