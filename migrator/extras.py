"""Optional libraries: which configured backend needs which extra, checked before Spark starts.

``pip install migrator`` brings what a DynamoDB-to-DynamoDB migration needs; a backend with its own
client library is an extra (``pip install 'migrator[mongodb]'``). A configuration that names a
backend whose library is missing is refused in one line naming the extra, before anything starts,
instead of a ``ModuleNotFoundError`` from deep inside a job.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import MigratorError

#: extra -> the modules it installs that migrator imports.
EXTRAS: dict[str, tuple[str, ...]] = {
    "mongodb": ("pymongo", "bson"),
}


def needed_extras(config: Any) -> list[tuple[str, str]]:
    """(setting, extra) for each configured backend that needs an extra."""
    from .config import MongoTarget

    needed = []
    if isinstance(config.target, MongoTarget):
        needed.append(("target.type: mongodb", "mongodb"))
    return needed


def missing_module(extra: str) -> str | None:
    """The first module of ``extra`` that cannot be imported, or None."""
    for module in EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError:
            return module
    return None


def require_extras(config: Any) -> None:
    """Raise :class:`MigratorError` naming the extra to install when a configured backend lacks it."""
    for setting, extra in needed_extras(config):
        module = missing_module(extra)
        if module is not None:
            raise MigratorError(f"{setting} needs the Python module {module!r}, which is not installed: "
                                f"pip install 'migrator[{extra}]'")
