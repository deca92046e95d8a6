"""What a MongoDB source and a MongoDB target share: pymongo (the ``mongodb`` extra), one client per process
and connection string, and ``check``'s probe of the server and of the user's privileges."""

from __future__ import annotations

import threading
from typing import Any, Callable

from .errors import MigratorError

_shared: dict[tuple, Any] = {}
_shared_lock = threading.Lock()


def pymongo_module(error: type[MigratorError], side: str) -> Any:
    """pymongo, or ``error`` saying which extra to install (``side``: source or target)."""
    try:
        import pymongo
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise error(f"a MongoDB {side} needs pymongo: pip install 'migrator[mongodb]'") from exc
    return pymongo


def raw_document_class() -> Any:
    """pymongo's undecoded document: what a MongoDB source reads and a MongoDB target writes as it came."""
    from bson.raw_bson import RawBSONDocument

    return RawBSONDocument


def shared_client(key: tuple, make: Callable[[], Any]) -> Any:
    """A client built once per Python process for ``key`` (the URI and the options that shape the client).

    Executor tasks use it: a replication micro-batch runs a task per partition every trigger, and a new
    client per task would connect, handshake and authenticate (TLS and SCRAM on a real cluster) each time,
    and churn the server's connections. Spark reuses its Python workers, and pymongo clients are thread-safe.
    """
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = make()
    return found


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


def access_status(client: Any, prober: Any, where: str, setting: str) -> dict | None:
    """``connectionStatus`` with privileges, or None after a problem on ``prober`` that names ``setting``."""
    from pymongo.errors import OperationFailure, PyMongoError

    try:
        return client.admin.command({"connectionStatus": 1, "showPrivileges": True})["authInfo"]
    except OperationFailure as exc:
        prober.problem(f"{where} refuses: {exc.details.get('errmsg', exc) if exc.details else exc}; "
                       f"check the user and password of {setting}")
    except PyMongoError as exc:
        prober.problem(f"cannot reach {where} ({type(exc).__name__}: {str(exc)[:200]}); check {setting} and the "
                       "network")
    return None


def privileges_finding(prober: Any, status: dict, where: str, database: str, collection: str,
                       needed: tuple[str, ...], role: str) -> None:
    """Whether the authenticated user may do ``needed`` on ``database.collection``; ``role`` grants it all."""
    users = [f"{u.get('user')}@{u.get('db')}" for u in status.get("authenticatedUsers", [])]
    if not users:
        prober.ok(f"{where} answers; no user authenticated (the server asks for none)")
        return
    roles = ", ".join(f"{r.get('role')}@{r.get('db')}" for r in status.get("authenticatedUserRoles", []))
    missing = missing_actions(status.get("authenticatedUserPrivileges", []), database, collection, needed)
    namespace = f"{database}.{collection}"
    if missing:
        prober.problem(f"user {', '.join(users)} (roles {roles or 'none'}) may not {', '.join(missing)} on "
                       f"{namespace}; grant it the {role} role on database {database!r}")
    else:
        prober.ok(f"user {', '.join(users)} (roles {roles}) may {', '.join(needed)} on {namespace}")
