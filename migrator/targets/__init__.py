"""Target backends, by the ``target.type`` that selects them.

Each backend is a folder here (``dynamodb/``, ``mongodb/``, ``dynamodb_export/``) whose module exposes ``BACKEND``, a
:class:`~migrator.targets.base.TargetBackend`; jobs find it with :func:`backend_for` and name none.
A backend is imported only when a configuration selects it, so an optional one's library (pymongo)
is needed only then.
"""

from __future__ import annotations

import importlib
from typing import Any

#: target.type -> the module of its backend.
BACKENDS: dict[str, str] = {
    "dynamodb": "migrator.targets.dynamodb",
    "dynamo": "migrator.targets.dynamodb",
    "alternator": "migrator.targets.dynamodb",
    "mongodb": "migrator.targets.mongodb",
    "dynamodb-s3-export": "migrator.targets.dynamodb_export",
}


def backend_for(target: Any) -> Any:
    """The backend of a configured target (its ``type``)."""
    return importlib.import_module(BACKENDS[target.type]).BACKEND
