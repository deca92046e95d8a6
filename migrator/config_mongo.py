"""The MongoDB sections of the configuration that a source and a target share: the connection string, kept
secret and printed redacted, and the ``source`` section of a MongoDB collection (``source.type: mongodb``).

Kept apart from :mod:`.config` so that the source's settings sit together; the target's section stays there
with the other targets.
"""

from __future__ import annotations

import typing
from typing import Any, Literal, Optional
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from .config_base import ScanSegments, Section

#: What a database name may not hold (MongoDB's own rule).
DATABASE_NAME = r"^[^/\\. \"$]+$"


def redact_uri(uri: SecretStr) -> str:
    """A MongoDB connection string without its user information, for logs and plans."""
    parts = urlsplit(uri.get_secret_value())
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{'***@' if '@' in parts.netloc else ''}{netloc}{parts.path}"


def uri_problems(uri: SecretStr, where: str) -> list[str]:
    """A connection string that is not one (the value is never shown: it may hold a password)."""
    if uri.get_secret_value().startswith(("mongodb://", "mongodb+srv://")):
        return []
    return [f"{where}.uri: must start with mongodb:// or mongodb+srv:// (value not shown: it may hold a password)"]


class MongoSource(Section):
    """``source`` with ``type: mongodb``: a MongoDB collection, copied by ``_id`` ranges and followed by its change
    stream."""

    type: Literal["mongodb"]
    """``mongodb``: read documents from a MongoDB collection; with ``target.streamChanges``, follow its change
    stream (a replica set or sharded cluster; a standalone server has none)."""
    uri: SecretStr
    """MongoDB connection string, ``mongodb://`` or ``mongodb+srv://``, TLS and auth options included.
    Required; never printed (logs and plans show ``mongodb://***@host/...``)."""
    database: str = Field(min_length=1, pattern=DATABASE_NAME)
    """Database name. Required."""
    collection: str = Field(min_length=1, pattern=r"^[^$\x00]+$")
    """Collection name. Required."""
    scan_segments: Optional[ScanSegments] = None
    """``_id`` ranges the snapshot is cut into (each a Spark task; split points from a ``$sample`` of ``_id``,
    sorted by the server, chosen once and kept in the savepoint). Left out: about one range per 64 MiB of
    documents, at least one per core and at most 10,000."""
    batch_size: typing.Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Documents per ``find`` batch (and per savepoint position), at most."""
    max_await_ms: typing.Annotated[int, Field(ge=10, le=60_000)] = 500
    """How long a change stream read waits for new changes before it reports none (``maxAwaitTimeMS``)."""

    #: What a DynamoDB source has and a MongoDB collection has not: the jobs read these from any source.
    max_map_tasks: typing.ClassVar[None] = None
    is_alternator: typing.ClassVar[bool] = False
    item_filter: typing.ClassVar[None] = None

    @property
    def table(self) -> str:
        """The collection, as savepoints and job names call a source's table."""
        return self.collection

    @property
    def namespace(self) -> str:
        return f"{self.database}.{self.collection}"

    def redacted_uri(self) -> str:
        return redact_uri(self.uri)

    def filter_problems(self, where: str) -> list[str]:
        return []

    def problems(self, config: Any) -> list[str]:
        """The rules a MongoDB source adds to the file's (``config`` is the whole configuration)."""
        problems = uri_problems(self.uri, "source")
        target = config.target
        if target.type != "mongodb":
            problems.append(
                f"target.type: a mongodb source is migrated into a mongodb target in this version ({target.type} "
                "needs a key mapping from documents to items, which is not there yet); use a mongodb target")
        if config.validation is not None and config.validation.copy_missing_rows:
            problems.append("validation.copyMissingRows: not for a mongodb source yet (the validator compares its "
                            "documents field by field); run the migration again to copy what is missing")
        if config.renames:
            problems.append("renames: renames apply to DynamoDB attributes; a mongodb source's documents are copied "
                            "exactly as they are; remove renames")
        return problems
