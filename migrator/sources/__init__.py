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
