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


#: The settings of how documents become items (into a DynamoDB-compatible target only).
ITEM_MAPPING = ("key", "types", "field_names", "drop_fields")
#: Where a key attribute's value may come from: the ``_id`` itself, or one field of an ``_id`` that is a document.
KEY_PATH = r"^_id(\.[^.$][^.]*)?$"


class MongoItemTypes(Section):
    """``source.types``: what a BSON value DynamoDB has no type for becomes, into a DynamoDB or Alternator target."""

    object_id: Literal["error", "string"] = "error"
    """An ObjectId: ``error`` (the document goes to the dead letter) or ``string`` (its 24 hex digits, as S)."""
    date: Literal["error", "string", "number"] = "error"
    """A date: ``error``, ``string`` (ISO 8601 in UTC with milliseconds, ``2026-12-07T21:00:00.000Z``, as S) or
    ``number`` (milliseconds since the epoch, as N)."""
    other: Literal["error", "string"] = "error"
    """Any other value DynamoDB cannot hold (a binary of a subtype other than 0, a UUID, a timestamp, a regular
    expression, JavaScript code, MinKey, MaxKey...): ``error`` or ``string`` (its canonical extended JSON text, as
    S, ``{"$binary": ...}``)."""


class MongoSource(Section):
    """``source`` with ``type: mongodb``: a MongoDB collection, copied by ``_id`` ranges and followed by its change
    stream."""

    type: Literal["mongodb"]
    """``mongodb``: read documents from a MongoDB collection; with ``target.streamChanges``, follow its change
    stream (a replica set or sharded cluster; a standalone server has none)."""
    uri: SecretStr
    """MongoDB connection string, ``mongodb://`` or ``mongodb+srv://``, TLS and auth options included.
    Required; never printed (logs and plans show ``mongodb://***@host/...``)."""
    database: Optional[str] = Field(default=None, min_length=1, pattern=DATABASE_NAME)
    """Database name. Required, unless ``tables`` lists namespaces (``<database>.<collection>`` patterns)."""
    collection: Optional[str] = Field(default=None, min_length=1, pattern=r"^[^$\x00]+$")
    """Collection name. Required, unless ``tables`` lists namespaces."""
    scan_segments: Optional[ScanSegments] = None
    """``_id`` ranges the snapshot is cut into, shared out among one Spark task per core. Split points are exact
    quantiles of the ``_id`` index up to a million documents, else quantiles of a ``$sample`` of ``_id``; chosen
    once and kept in the savepoint. Left out: about one range per 64 MiB of documents, rounded up to a multiple of
    the cores, at most 10,000."""
    batch_size: typing.Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Documents per ``find`` batch (and per savepoint position), at most."""
    max_await_ms: typing.Annotated[int, Field(ge=10, le=60_000)] = 500
    """How long a change stream read waits for new changes before it reports none (``maxAwaitTimeMS``)."""
    full_document: Literal["updateLookup", "required"] = "updateLookup"
    """The document an update replicates: ``updateLookup`` (the document as it is when the change is read, looked
    up by the server) or ``required`` (MongoDB 6+ with ``changeStreamPreAndPostImages`` enabled on the collection:
    the document as that change left it, without a lookup per update; a missing image fails the read)."""
    key: Optional[dict[str, typing.Annotated[str, Field(pattern=KEY_PATH)]]] = None
    """Into a DynamoDB or Alternator target: the item's primary key, as attribute name -> where its value is in the
    document's ``_id`` (``_id``, or ``_id.<field>`` when ``_id`` is a document), hash key first, range key second.
    ``{pk: _id.pk, sk: _id.sk}`` takes back the items a DynamoDB-to-MongoDB migration wrote. A key value must be a
    string, a number or a binary (or become one through ``types``). Left out: ``{_id: _id}``."""
    types: MongoItemTypes = Field(default_factory=MongoItemTypes)
    """Into a DynamoDB or Alternator target: what ObjectIds, dates and other BSON values DynamoDB has no type for
    become. Left out: every such value sends its document to the dead letter."""
    field_names: Literal["escape", "keep"] = "escape"
    """Into a DynamoDB or Alternator target: ``escape`` restores the names a DynamoDB-to-MongoDB migration escaped
    (U+FF0E to ``.``, a leading U+FF04 to ``$``, a top-level U+FF3F``id`` to ``_id``); ``keep`` copies names as they
    are."""
    drop_fields: list[typing.Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """Into a DynamoDB or Alternator target: top-level fields left out of every item (the date field a
    DynamoDB-to-MongoDB migration added for its TTL index: ``target.ttlField``). Left out: none."""

    #: What a DynamoDB source has and a MongoDB collection has not: the jobs read these from any source.
    max_map_tasks: typing.ClassVar[None] = None
    is_alternator: typing.ClassVar[bool] = False
    item_filter: typing.ClassVar[None] = None

    @property
    def table(self) -> str:
        """The namespace (``<database>.<collection>``), as savepoints, checkpoints and job names call a source's
        table: two databases' collections of one name stay apart."""
        return self.namespace

    @property
    def default_target(self) -> str | None:
        """The target table or collection when the target names none: the collection's name."""
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
        problems += [f"source.{name}: missing; this setting is required (or list namespaces, <database>.<collection> "
                     "patterns, under tables)" for name in ("database", "collection") if getattr(self, name) is None]
        target = config.target
        if target.type == "mongodb":
            mapped = [type(self).model_fields[name].alias for name in ITEM_MAPPING if name in self.model_fields_set]
            problems += [f"source.{name}: maps documents to DynamoDB items; a mongodb target takes the documents "
                         f"exactly as they are; remove source.{name}" for name in mapped]
        elif target.type not in ("dynamodb", "dynamo", "alternator"):
            problems.append(f"target.type: a mongodb source is migrated into mongodb, dynamodb or alternator "
                            f"({target.type} is not there yet)")
        else:
            problems += self._key_problems()
        if config.validation is not None and config.validation.copy_missing_rows and target.type == "mongodb":
            problems.append("validation.copyMissingRows: not for a mongodb source into a mongodb target yet (the "
                            "validator compares its documents field by field); run the migration again to copy what "
                            "is missing")
        if config.renames:
            problems.append("renames: renames apply to DynamoDB attributes; a mongodb source's documents are copied "
                            "exactly as they are; remove renames")
        return problems

    def _key_problems(self) -> list[str]:
        key = self.key_attributes
        if not 1 <= len(key) <= 2:
            return [f"source.key: a DynamoDB key has a hash attribute and at most a range attribute; got {len(key)}"]
        paths = [path for _, path in key]
        if len(key) == 2 and "_id" in paths:
            return ["source.key: a key of two attributes takes them from two fields of _id (_id.<a>, _id.<b>), "
                    "not from _id itself"]
        if len(set(paths)) != len(paths):
            return ["source.key: the hash and range attributes come from the same place in _id"]
        return []

    @property
    def key_attributes(self) -> list[tuple[str, str]]:
        """``(attribute, path in the document)``, hash first (``[("_id", "_id")]`` by default)."""
        return list((self.key or {"_id": "_id"}).items())
