"""What ``migrator check`` tries on a MongoDB source: the server answers, the collection is there, the user may
read it and, for replication, the server has a change stream. Nothing is written."""

from __future__ import annotations

from typing import Any

from ...errors import SourceError
from ...preflight import Finding, Prober

#: What the job does to the collection (the read role has them all).
ACTIONS = ("find", "collStats", "listCollections")
STREAM_ACTIONS = ("changeStream",)


def preflight(config: Any, spec: Any) -> list[Finding]:
    from pymongo.errors import OperationFailure, PyMongoError

    from ...targets.mongodb.preflight import missing_actions
    from .change_stream import cluster_time

    src = config.source
    prober = Prober("source", spec.redacted_uri)
    client = spec.client(raw=False)
    try:
        status = client.admin.command({"connectionStatus": 1, "showPrivileges": True})["authInfo"]
        if src.collection not in client[src.database].list_collection_names(filter={"name": src.collection}):
            prober.problem(f"collection {src.namespace} not found at {spec.redacted_uri}; check source.database and "
                           "source.collection")
            return prober.findings
        if config.target.stream_changes:
            try:
                seconds, inc = cluster_time(client, src.database, src.collection)
                prober.ok(f"{spec.redacted_uri} has a change stream (cluster time {seconds}.{inc})")
            except SourceError as exc:
                prober.problem(str(exc))
    except OperationFailure as exc:
        prober.problem(f"{spec.redacted_uri} refuses: {exc.details.get('errmsg', exc) if exc.details else exc}; "
                       "check the user and password of source.uri")
        return prober.findings
    except PyMongoError as exc:
        prober.problem(f"cannot reach {spec.redacted_uri} ({type(exc).__name__}: {str(exc)[:200]}); check source.uri "
                       "and the network")
        return prober.findings
    finally:
        client.close()
    users = [f"{u.get('user')}@{u.get('db')}" for u in status.get("authenticatedUsers", [])]
    if not users:
        prober.ok(f"{spec.redacted_uri} answers; no user authenticated (the server asks for none)")
        return prober.findings
    needed = ACTIONS + (STREAM_ACTIONS if config.target.stream_changes else ())
    missing = missing_actions(status.get("authenticatedUserPrivileges", []), src.database, src.collection, needed)
    if missing:
        prober.problem(f"user {', '.join(users)} may not {', '.join(missing)} on {src.namespace}; grant it the read "
                       f"role on database {src.database!r}")
    else:
        prober.ok(f"user {', '.join(users)} may {', '.join(needed)} on {src.namespace}")
    return prober.findings
