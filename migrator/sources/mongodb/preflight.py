"""What ``migrator check`` tries on a MongoDB source: the server answers, the collection is there, the user may
read it and, for replication, the server has a change stream. Nothing is written."""

from __future__ import annotations

from typing import Any

from ...errors import SourceError
from ...mongo_access import access_status, privileges_finding
from ...preflight import Finding, Prober

#: What the job does to the collection (the read role has them all).
ACTIONS = ("find", "collStats", "listCollections", "listIndexes")
STREAM_ACTIONS = ("changeStream",)


def images_finding(prober: Prober, client: Any, src: Any) -> None:
    """``fullDocument: required`` needs the collection's post-images (``changeStreamPreAndPostImages``)."""
    found = list(client[src.database].list_collections(filter={"name": src.collection}))
    info = found[0] if found else {}
    if ((info.get("options") or {}).get("changeStreamPreAndPostImages") or {}).get("enabled"):
        prober.ok(f"{src.namespace} keeps post-images for its change stream (source.fullDocument: required)")
    else:
        prober.problem(f"{src.namespace} keeps no post-images, which source.fullDocument: required needs: run "
                       f"db.runCommand({{collMod: \"{src.collection}\", changeStreamPreAndPostImages: {{enabled: true}}}}) "
                       "on MongoDB 6+, or use fullDocument: updateLookup")


def preflight(config: Any, spec: Any) -> list[Finding]:
    from pymongo.errors import PyMongoError

    from .change_stream import cluster_time

    src = config.source
    prober = Prober("source", spec.redacted_uri)
    client = spec.client(raw=False)
    try:
        status = access_status(client, prober, spec.redacted_uri, "source.uri")
        if status is None:
            return prober.findings
        if not client[src.database].list_collection_names(filter={"name": src.collection}):
            prober.problem(f"collection {src.namespace} not found at {spec.redacted_uri}; check source.database and "
                           "source.collection")
            return prober.findings
        if spec.mapping is not None:
            from .backend import key_types

            found = ", ".join(f"{name} ({kind})" for name, kind in key_types(spec).items())
            prober.ok(f"the documents of {src.namespace} become items keyed {found} (source.key; the types are the "
                      "first document's)")
        if config.target.stream_changes:
            seconds, inc = cluster_time(client, src.database, src.collection)
            prober.ok(f"{spec.redacted_uri} has a change stream (cluster time {seconds}.{inc})")
            if src.full_document == "required":
                images_finding(prober, client, src)
    except SourceError as exc:
        prober.problem(str(exc))
    except PyMongoError as exc:
        prober.problem(f"cannot read {src.namespace} at {spec.redacted_uri} ({type(exc).__name__}: {str(exc)[:200]})")
    finally:
        client.close()
    if status is not None:
        needed = ACTIONS + (STREAM_ACTIONS if config.target.stream_changes else ())
        privileges_finding(prober, status, spec.redacted_uri, src.database, src.collection, needed, "read")
    return prober.findings
