"""Source backends, by the ``source.type`` that selects them.

Each backend is a folder here (``dynamodb/``, ``dynamodb_export/``, ``mongodb/``) with a ``backend`` module exposing
``BACKEND``, a :class:`~migrator.sources.base.SourceBackend`; jobs find it with :func:`backend_for` and
name none. A backend is imported only when a configuration selects it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: source.type -> the module of its backend.
BACKENDS: dict[str, str] = {
    "dynamodb": "migrator.sources.dynamodb.backend",
    "dynamo": "migrator.sources.dynamodb.backend",
    "alternator": "migrator.sources.dynamodb.backend",
    "dynamodb-s3-export": "migrator.sources.dynamodb_export.backend",
    "mongodb": "migrator.sources.mongodb.backend",
}


def backend_for(source: Any) -> Any:
    """The backend of a configured source (its ``type``)."""
    return importlib.import_module(BACKENDS[source.type]).BACKEND


def written_through(backend: Any, config: Any, spec: Any) -> Any:
    """The target's spec as the snapshot and replication write through it. A source whose rows are not DynamoDB
    items wraps it to convert them (the backend's ``target_spec``); the validator, which reads the source as the
    target holds it, keeps the target's own."""
    adapt = getattr(backend, "target_spec", None)
    return adapt(config, spec) if adapt is not None else spec
