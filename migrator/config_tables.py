"""The ``tables`` section: many tables in one migration.

A configuration with ``tables`` names no ``source.table``: it selects source tables by name or glob
pattern (``include``, less ``exclude``), names each target by a rule (``targetPrefix``,
``targetSuffix``) or per table (``overrides.<table>.target``), and may change a few settings per
table (``overrides``). Each selected table then runs as the configuration it would have had on its
own (:func:`table_data`, :meth:`~migrator.config.MigratorConfig.for_table`): the same file with
``source.table``, ``target.table`` (or ``collection``) and the overrides filled in, checked by the same
rules, with its own savepoint, stream checkpoint, change log and dead-letter folder
(``<folder>/<source>-to-<target>``).

A MongoDB source's tables are namespaces, ``<database>.<collection>`` (MongoShake's namespace filters):
``include: [shop.*]``, ``exclude: ["*.tmp_*"]``. Into MongoDB a target name is a namespace too, so that
``targetPrefix: v2_`` moves ``shop.orders`` to ``v2_shop.orders`` and ``overrides.shop.orders.target`` may
name another database.
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Optional

from pydantic import Field, model_validator

from .config_base import FilterSettings, Percent, PositiveInt, Rename, ScanSegments, Section

#: Characters that make an ``include`` entry a pattern rather than a table's name.
WILDCARDS = "*?["
#: Stands for any table where a rule or a permission holds for every table of a ``tables`` section.
ANY_TABLE = "ANY_TABLE_OF_tables"

#: Override keys, by the section of a table's own configuration that they replace.
FILTER_KEYS = ("filterExpression", "expressionAttributeNames", "expressionAttributeValues")
SOURCE_KEYS = ("scanSegments", "readThroughput", "throughputReadPercent") + FILTER_KEYS
TARGET_KEYS = ("writeThroughput", "throughputWritePercent", "streamChanges", "skipInitialSnapshotTransfer")


def any_table(source: Any) -> str:
    """The placeholder of any table of ``source``: a namespace (``<database>.<collection>``) for a MongoDB source."""
    return f"{ANY_TABLE}.{ANY_TABLE}" if getattr(source, "type", None) == "mongodb" else ANY_TABLE


def is_pattern(entry: str) -> bool:
    """Whether an ``include`` or ``exclude`` entry is a glob rather than a table's name."""
    return any(c in entry for c in WILDCARDS)


class _TableOverride(Section):
    """The keys of an override besides the filter's (see :class:`TableOverride`)."""

    target: Optional[str] = Field(default=None, min_length=1)
    """The target table (or MongoDB collection) of this table. Left out: ``targetPrefix`` + the source table's
    name + ``targetSuffix``."""
    renames: Optional[list[Rename]] = None
    """Attribute renames of this table, instead of the top-level ``renames``. Left out: the top-level ones."""
    scan_segments: Optional[ScanSegments] = None
    """``source.scanSegments`` of this table. Left out: ``source.scanSegments``, else planned by its size."""
    read_throughput: Optional[PositiveInt] = None
    """``source.readThroughput`` of this table. Left out: ``source.readThroughput``, else its capacity."""
    throughput_read_percent: Optional[Percent] = None
    """``source.throughputReadPercent`` of this table. Left out: ``source.throughputReadPercent``."""
    write_throughput: Optional[PositiveInt] = None
    """``target.writeThroughput`` of this table (a DynamoDB-compatible target). Left out: the target's."""
    throughput_write_percent: Optional[Percent] = None
    """``target.throughputWritePercent`` of this table (a DynamoDB-compatible target). Left out: the
    target's."""
    stream_changes: Optional[bool] = None
    """``target.streamChanges`` of this table: ``false`` copies it once while the others replicate. Left out:
    ``target.streamChanges``."""
    skip_initial_snapshot_transfer: Optional[bool] = None
    """``target.skipInitialSnapshotTransfer`` of this table. Left out: the target's."""


# The filter's keys come after the override's own (pydantic lists a later base's first).
class TableOverride(FilterSettings, _TableOverride):
    """``tables.overrides.<source table>``: what differs for one table. Each key replaces the one of the same
    name in ``source``, ``target`` or at the top of the file; a filter key replaces the source's filter, all
    three keys together."""


class Tables(Section):
    """``tables``: the source tables of one migration, and what changes per table.

    A plain list (``tables: [orders, users]``) is short for ``tables: {include: [orders, users]}``.
    """

    include: list[str] = Field(min_length=1)
    """Source tables: names, and glob patterns over the source's tables (``orders_*``, ``*``; ``*``, ``?`` and
    ``[...]`` as in shell globs, case-sensitive). A name without a wildcard must exist: a missing one is
    reported as failed, and the others still run. Required."""
    exclude: list[str] = Field(default_factory=list)
    """Names and glob patterns of tables to leave out of ``include``. Left out: none."""
    target_prefix: str = ""
    """Prepended to a source table's name to name its target table or collection. Left out: nothing."""
    target_suffix: str = ""
    """Appended to a source table's name to name its target table or collection. Left out: nothing."""
    concurrency: PositiveInt = 4
    """Tables whose snapshots are copied at once (each keeps its own read and write caps). Each needs a Spark
    core of its own, and one core stays free for stream reads, so fewer run at once on a small Spark. Every
    table's replication goes on beside the others' snapshots."""
    overrides: dict[str, TableOverride] = Field(default_factory=dict)
    """Settings of single tables, by source table name: target name, renames, scan segments, capacity,
    streamChanges, filter. Left out: none."""

    @model_validator(mode="before")
    @classmethod
    def _a_list_is_include(cls, data: Any) -> Any:
        return {"include": data} if isinstance(data, list) else data

    def target_name(self, source_table: str) -> str:
        """The target table or collection of ``source_table``."""
        override = self.overrides.get(source_table)
        if override is not None and override.target:
            return override.target
        return f"{self.target_prefix}{source_table}{self.target_suffix}"

    @property
    def names(self) -> list[str]:
        """The ``include`` entries that are plain names (they must exist)."""
        return [entry for entry in self.include if not is_pattern(entry)]


@dataclass
class Selection:
    """The tables a ``tables`` section selects from a listing: ``(source, target)`` pairs in listing
    order, the named tables that do not exist, and the problems that stop the whole run."""

    pairs: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def select(tables: Tables, listed: list[str]) -> Selection:
    """Which of the ``listed`` source tables ``tables`` selects, and what each is called in the target."""
    out = Selection()
    excluded = [t for t in listed if any(fnmatch.fnmatchcase(t, p) for p in tables.exclude)]
    chosen = [t for t in listed if t not in excluded and any(fnmatch.fnmatchcase(t, p) for p in tables.include)]
    known = set(listed)
    out.missing = [name for name in tables.names if name not in known and name not in tables.exclude]
    for name in tables.overrides:
        if name not in chosen and name not in out.missing:
            why = "is excluded" if name in excluded else "matches no include entry" if name in known else \
                "is not a table of the source"
            out.problems.append(f"tables.overrides.{name}: {name!r} {why}; fix the name or remove the override")
    targets: dict[str, str] = {}
    for name in chosen:
        target = tables.target_name(name)
        if target in targets:
            out.problems.append(f"tables: {targets[target]!r} and {name!r} would both be written to {target!r}; "
                                f"set tables.overrides.{name}.target")
        targets[target] = name
        out.pairs.append((name, target))
    return out


def table_data(data: dict[str, Any], source_table: str, target: str) -> dict[str, Any]:
    """The configuration ``source_table`` would have on its own, from the whole file's parsed YAML ``data``.

    Folders shared by all tables get a subfolder per table (``<source>-to-<target>``); the savepoint file
    is already named after the pair.
    """
    out = copy.deepcopy(data)
    tables = Tables.model_validate(out.pop("tables"))
    found = tables.overrides.get(source_table)
    override = found.model_dump(by_alias=True, exclude_none=True) if found is not None else {}
    to_mongodb = out["target"].get("type") == "mongodb"
    if out["source"].get("type") == "mongodb":
        # Namespaces: <database>.<collection>, the target's too into MongoDB (a name without a database part is a
        # collection of target.database).
        out["source"]["database"], _, out["source"]["collection"] = source_table.partition(".")
    else:
        out["source"]["table"] = source_table
    named = target
    if to_mongodb and out["source"].get("type") == "mongodb" and "." in target:
        out["target"]["database"], _, named = target.partition(".")
    out["target"]["collection" if to_mongodb else "table"] = named
    if any(key in override for key in FILTER_KEYS):
        for key in FILTER_KEYS:
            out["source"].pop(key, None)
    for section, keys in (("source", SOURCE_KEYS), ("target", TARGET_KEYS)):
        out[section].update((key, override[key]) for key in keys if key in override)
    if "renames" in override:
        out["renames"] = override["renames"]
    pair = f"{source_table}-to-{target}"
    streaming = out.setdefault("streaming", {})
    for key in ("checkpointLocation", "changeLogPath"):
        if streaming.get(key):
            streaming[key] = f"{str(streaming[key]).rstrip('/')}/{pair}"
    if out.get("deadLetter"):
        out["deadLetter"]["path"] = f"{str(out['deadLetter']['path']).rstrip('/')}/{pair}"
    elif out.get("savepoints") and out["savepoints"].get("path"):
        out["deadLetter"] = {"path": f"{str(out['savepoints']['path']).rstrip('/')}/dead-letter/{pair}"}
    if out.get("validation"):
        out["validation"].pop("reportPath", None)   # one report for all the tables
    return out
