"""``docs/config-reference.md``: the configuration reference, generated from the config models.

    python -m devtools.config_reference            # write the file
    python -m devtools.config_reference --check    # exit 1 when the committed file is stale

Every key, type, constraint and default comes from the pydantic models in ``migrator/config.py``;
every description is the field's attribute docstring. The only facts kept here are the ones the
models cannot know: which keys Scylla Migrator's DynamoDB configuration has (``SCYLLA_KEYS``), and
the names of the ``target`` variants. A key whose description starts with ``IGNORED_MARK`` is
reported as "accepted, no effect", so that column follows the docstrings too.
"""

from __future__ import annotations

import argparse
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from migrator.config import WITHOUT_EFFECT_MARK, MigratorConfig

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "config-reference.md"
COMMAND = "python -m devtools.config_reference"

#: How a field's docstring says that the key is kept only so that Scylla Migrator configs load.
IGNORED_MARK = WITHOUT_EFFECT_MARK

#: Keys of Scylla Migrator's DynamoDB configuration (``SourceSettings.DynamoDB`` and ``Alternator``,
#: ``TargetSettings.DynamoDB`` and ``Alternator``, ``AlternatorSettings``, ``AWSCredentials``, ``Savepoints``,
#: ``Rename``, ``Validation`` and the top level of ``MigratorConfig`` in scylladb/scylla-migrator),
#: as paths of this reference. Keys not listed here are migrator's own.
_ENDPOINT_KEYS = (
    "type", "table", "region", "endpoint", "endpoint.host", "endpoint.port", "credentials",
    "credentials.accessKey", "credentials.secretKey", "credentials.assumeRole",
    "credentials.assumeRole.arn", "credentials.assumeRole.sessionName",
)
_ALTERNATOR_KEYS = (
    "datacenter", "rack", "activeRefreshIntervalMs", "idleRefreshIntervalMs", "compression",
    "optimizeHeaders", "maxConnections", "connectionMaxIdleTimeMs", "connectionTimeToLiveMs",
    "connectionAcquisitionTimeoutMs", "connectionTimeoutMs", "maxItemsPerBatch",
)
SCYLLA_KEYS = frozenset(
    ["source", "target", "savepoints", "renames", "skipSegments", "skipTokenRanges", "validation"]
    + [f"source.{k}" for k in _ENDPOINT_KEYS]
    + [f"source.{k}" for k in ("scanSegments", "readThroughput", "throughputReadPercent", "maxMapTasks",
                               "removeConsumedCapacity")]
    + [f"target.{k}" for k in _ENDPOINT_KEYS]
    + [f"target.{k}" for k in ("writeThroughput", "throughputWritePercent", "billingMode",
                               "removeConsumedCapacity", "maxItemsPerBatch", "streamChanges",
                               "skipInitialSnapshotTransfer", "maxMapTasks", "path")]
    # Alternator client settings: at the top of a type alternator section (its current layout), or
    # nested under ``alternator`` (its earlier one).
    + [f"{side}.{nest}{k}" for side in ("source", "target") for nest in ("", "alternator.")
       for k in _ALTERNATOR_KEYS if nest or k != "maxItemsPerBatch"]
    + ["source.alternator", "target.alternator"]
    # Its dynamodb-s3-export source (SourceSettings.DynamoDBS3Export).
    + [f"source.{k}" for k in ("bucket", "manifestKey", "usePathStyleAccess", "tableDescription",
                               "tableDescription.attributeDefinitions", "tableDescription.attributeDefinitions[].name",
                               "tableDescription.attributeDefinitions[].type", "tableDescription.keySchema",
                               "tableDescription.keySchema[].name", "tableDescription.keySchema[].type",
                               "tableDescription.billingMode", "tableDescription.provisionedThroughput",
                               "tableDescription.provisionedThroughput.readCapacityUnits",
                               "tableDescription.provisionedThroughput.writeCapacityUnits")]
    + ["savepoints.path", "savepoints.intervalSeconds", "savepoints.enableParquetFileTracking",
       "savepoints.resumeFromLatest", "renames[].from", "renames[].to"]
    + [f"validation.{k}" for k in ("compareTimestamps", "ttlToleranceMillis", "writetimeToleranceMillis",
                                   "failuresToFetch", "floatingPointTolerance", "timestampMsTolerance",
                                   "hashColumns", "copyMissingRows")]
)

#: What to call each member of a discriminated union (``target``) in headings.
VARIANT_NAMES = {"DynamoDBSource": "DynamoDB-compatible", "DynamoDBS3ExportSource": "DynamoDB export",
                 "MongoSource": "MongoDB", "DynamoDBTarget": "DynamoDB-compatible", "MongoTarget": "MongoDB",
                 "DynamoDBS3ExportTarget": "DynamoDB export"}
#: ``source`` and ``target`` variants that exist in Scylla Migrator (it has no MongoDB target).
SCYLLA_VARIANTS = frozenset({"DynamoDBSource", "DynamoDBS3ExportSource", "DynamoDBTarget", "DynamoDBS3ExportTarget"})

SAME, IGNORED, OURS = "same", "accepted, no effect", "migrator only"

PLURALS = {"integer": "integers", "number": "numbers", "string": "strings", "boolean": "booleans"}


@dataclass(frozen=True)
class Row:
    """One key of the reference."""

    path: str
    type: str
    default: str
    description: str
    scylla: str


@dataclass(frozen=True)
class Table:
    """The keys of one section, with the section's own description as introduction."""

    title: str
    intro: str
    rows: tuple[Row, ...]


# --- types ------------------------------------------------------------------------------------


def _split(annotation: Any) -> tuple[Any, list[Any]]:
    """The bare type and its constraints: ``Optional`` dropped, ``Annotated`` metadata collected."""
    constraints: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                constraints.extend(item.metadata if isinstance(item, FieldInfo) else [item])
        elif origin in (Union, types.UnionType) and type(None) in typing.get_args(annotation):
            rest = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = rest[0] if len(rest) == 1 else Union[tuple(rest)]
        else:
            return annotation, constraints


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def _bounds(kind: type, constraints: list[Any], where: str) -> str:
    """``1–64``, ``≥ 0``, ``> 0, ≤ 3600``: the numeric constraints, integers made inclusive."""
    low = high = None  # (value, inclusive)
    for c in constraints:
        if isinstance(c, annotated_types.Ge):
            low = (c.ge, True)
        elif isinstance(c, annotated_types.Gt):
            low = (c.gt + 1, True) if kind is int else (c.gt, False)
        elif isinstance(c, annotated_types.Le):
            high = (c.le, True)
        elif isinstance(c, annotated_types.Lt):
            high = (c.lt - 1, True) if kind is int else (c.lt, False)
        else:
            raise TypeError(f"{where}: constraint {c!r} is not rendered; teach {__name__} about it")
    if low and high and low[1] and high[1]:
        return f" {_number(low[0])}–{_number(high[0])}"
    parts = []
    if low:
        parts.append(f"{'≥' if low[1] else '>'} {_number(low[0])}")
    if high:
        parts.append(f"{'≤' if high[1] else '<'} {_number(high[0])}")
    return " " + ", ".join(parts) if parts else ""


def _string(constraints: list[Any], where: str) -> str:
    text = "string"
    for c in constraints:
        if isinstance(c, annotated_types.MinLen) and c.min_length == 1:
            text = "non-empty " + text
        elif getattr(c, "pattern", None):
            text += f" matching `{c.pattern}`"
        else:
            raise TypeError(f"{where}: constraint {c!r} is not rendered; teach {__name__} about it")
    return text


def type_text(annotation: Any, constraints: list[Any], where: str) -> str:
    """A readable type: ``integer 1–64``, ``one of: error, drop``, ``string (secret)``, ``section``.

    Parameters
    ----------
    annotation : type
        The field's annotation, as pydantic resolved it (``Optional`` and ``Annotated`` allowed).
    constraints : list
        The field's own metadata (``Ge``, ``Lt``, ``MinLen``, pattern...).
    where : str
        ``Model.field``, for the error.

    Raises
    ------
    TypeError
        For a type or constraint this module cannot render: better no reference than a wrong one.
    """
    bare, inner = _split(annotation)
    constraints = [*constraints, *inner]
    origin = typing.get_origin(bare)
    if origin is Literal:
        return "one of: " + ", ".join(str(a) for a in typing.get_args(bare))
    if origin in (Union, types.UnionType):
        return " or ".join(type_text(a, [], where) for a in typing.get_args(bare))
    if origin is list:
        (item,) = typing.get_args(bare)
        if item is Any:
            return "list"
        if _model(item):
            return "list of sections"
        first, _, rest = type_text(item, [], where).partition(" ")
        return f"list of {PLURALS.get(first, first)} {rest}".rstrip()
    if origin is dict:
        key, value = typing.get_args(bare)
        if _model(value):
            return "mapping of names to sections"
        return "mapping" if value is Any else f"mapping of strings to {PLURALS.get(type_text(value, [], where))}"
    if _model(bare):
        return "section"
    if bare is SecretStr:
        return "string (secret)"
    if bare is str:
        return _string(constraints, where)
    if bare is bool:
        return "boolean"
    if bare in (int, float):
        return ("integer" if bare is int else "number") + _bounds(bare, constraints, where)
    raise TypeError(f"{where}: type {bare!r} is not rendered; teach {__name__} about it")


def _model(annotation: Any) -> type[BaseModel] | None:
    bare, _ = _split(annotation)
    return bare if isinstance(bare, type) and issubclass(bare, BaseModel) else None


def default_text(field: FieldInfo) -> str:
    """``required``, ``not set``, or the default as written in YAML."""
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None:
        return "not set"
    if isinstance(value, BaseModel):
        return "its defaults"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list):
        return "`[]`" if not value else f"`{value}`"
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value}`" if value != "" else '`""`'



# --- walking the models -----------------------------------------------------------------------


def _clean(text: str) -> str:
    """One Markdown table cell: one line, single backticks, pipes escaped."""
    text = " ".join(text.split()).replace("``", "`")
    return text.replace("|", "\\|")


def _key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _scylla(path: str, description: str, scylla_side: bool) -> str:
    if description.startswith(IGNORED_MARK):
        if not (scylla_side and path in SCYLLA_KEYS):
            raise ValueError(f"{path}: its description says '{IGNORED_MARK}', "
                             "but SCYLLA_KEYS has no such key")
        return IGNORED
    return SAME if scylla_side and path in SCYLLA_KEYS else OURS


def _variants(annotation: Any) -> list[type[BaseModel]]:
    """The models of a union of sections (``source``, ``target``), else an empty list."""
    bare, _ = _split(annotation)
    if typing.get_origin(bare) in (Union, types.UnionType):
        members = [_model(a) for a in typing.get_args(bare)]
        if all(members):
            return members  # type: ignore[return-value]
    return []


def _variant_title(model: type[BaseModel]) -> str:
    name = VARIANT_NAMES.get(model.__name__, model.__name__)
    field = model.model_fields.get("type")
    if field is None:
        return name
    values = [f"`{v}`" for v in typing.get_args(_split(field.annotation)[0])]
    spelled = values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]
    return f"{name}: `type` is {spelled}"


def walk(model: type[BaseModel], prefix: str = "", title: str = "", intro: str = "",
         variant: str = "", scylla_side: bool = True) -> list[Table]:
    """The table of ``model``'s keys, then the tables of its sections, depth first.

    Parameters
    ----------
    model : type
        The section's pydantic model.
    prefix : str
        The section's key path (``source.credentials``); empty for the top level.
    title, intro : str
        The table's heading and introduction (the description of the field holding the section).
    variant : str
        The ``target`` variant the section belongs to, added to nested headings.
    scylla_side : bool
        False under a variant that Scylla Migrator does not have (MongoDB).

    Raises
    ------
    ValueError
        When a field has no description, or claims to be an ignored Scylla Migrator key that
        ``SCYLLA_KEYS`` does not list.
    """
    rows: list[Row] = []
    nested: list[Table] = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{_key(name, field)}" if prefix else _key(name, field)
        where = f"{model.__name__}.{name}"
        description = (field.description or "").strip()
        if not description:
            raise ValueError(f"{where} ({path}) has no description: add an attribute docstring under it")
        variants = _variants(field.annotation)
        if variants:
            kind = "section: " + " or ".join(VARIANT_NAMES.get(m.__name__, m.__name__) for m in variants)
        else:
            kind = type_text(field.annotation, list(field.metadata), where)
        scylla = _scylla(path, description, scylla_side)
        rows.append(Row(path, kind, default_text(field), _clean(description), scylla))
        for member in variants:
            side = scylla_side and member.__name__ in SCYLLA_VARIANTS
            label = VARIANT_NAMES.get(member.__name__, member.__name__)
            nested += walk(member, path, f"`{path}` ({_variant_title(member)})", description, label, side)
        bare, _ = _split(field.annotation)
        item = _model(typing.get_args(bare)[-1]) if typing.get_origin(bare) in (list, dict) else None
        marker = "[]" if typing.get_origin(bare) is list else ".<name>"
        section, list_path = (item, f"{path}{marker}") if item else (_model(bare), path)
        if section is not None and not variants:
            heading = f"`{list_path}`" + (f" ({variant})" if variant else "")
            nested += walk(section, list_path, heading, description, variant, scylla_side)
    return [Table(title or "Top level", intro, tuple(rows)), *nested]


def tables() -> list[Table]:
    """Every table of the reference, in order: the top level, then each section depth first."""
    return walk(MigratorConfig)


def _check_scylla_keys(all_tables: list[Table]) -> None:
    paths = {row.path for table in all_tables for row in table.rows}
    stale = sorted(SCYLLA_KEYS - paths)
    if stale:
        raise ValueError(f"SCYLLA_KEYS names keys the models do not have: {', '.join(stale)}")


# --- rendering --------------------------------------------------------------------------------

HEADER = f"""\
# Configuration reference

<!-- Generated by `{COMMAND}` from migrator/config.py. Do not edit by hand. -->

Generated from the configuration models in `migrator/config.py` by `{COMMAND}`; edit the
field docstrings there and run it again (`{COMMAND} --check` fails when this file is stale).
[`config.dynamodb.yaml.example`](../config.dynamodb.yaml.example) shows the keys in place.

Keys are written as in YAML (camelCase); `[]` marks the items of a list, `<name>` a key of your choosing
(a table's name). An unknown key is an
error. The **Scylla Migrator** column compares with Scylla Migrator's DynamoDB configuration:
**{SAME}** (the key exists there with the same meaning), **{IGNORED}** (accepted so that its
configurations load, and ignored) or **{OURS}**.
"""


def render() -> str:
    """The whole Markdown file."""
    all_tables = tables()
    _check_scylla_keys(all_tables)
    out = [HEADER]
    for table in all_tables:
        out.append(f"## {table.title}\n")
        if table.intro:
            out.append(_clean(table.intro) + "\n")
        out.append("| key | type | default | description | Scylla Migrator |")
        out.append("|---|---|---|---|---|")
        for row in table.rows:
            cells = [f"`{row.path}`", _clean(row.type), row.default, row.description, row.scylla]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Write the reference, or with ``--check`` compare it; returns the exit code (1: stale)."""
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 when the committed file differs from the generated one")
    args = parser.parse_args(argv)
    text = render()
    relative = OUTPUT.relative_to(ROOT)
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else None
        if current != text:
            state = "is missing" if current is None else "differs from migrator/config.py"
            sys.stderr.write(f"{relative} {state}; run `{COMMAND}` and commit the result\n")
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    sys.stdout.write(f"wrote {relative}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
