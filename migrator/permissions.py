"""The IAM permissions a configured job needs, and the policy that grants them (``migrator policy``).

Each backend lists its own (``permissions`` of its driver half); this module adds the S3 locations of
the configuration (savepoints, checkpoint, change log, dead letters, report) and turns the list into
one policy, a statement per resource. ``check`` names the same actions when a probe is denied, and the
README's first AWS migration prints its policy with this code, so the three cannot disagree.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from .storage import is_s3, split_s3


@dataclass(frozen=True)
class Permission:
    """``action`` on ``resource`` (an ARN, wildcards allowed), for ``why``."""

    action: str
    resource: str
    why: str
    #: An IAM condition for the statement (S3 ListBucket limited to a prefix).
    prefix: str | None = None
    #: Whose credentials need it: ``source``, ``target`` or ``storage`` (the job's own files).
    side: str = "storage"


def table_arn(region: str | None, table: str) -> str:
    """A DynamoDB table's ARN; any account (the policy is attached in the table's own)."""
    return f"arn:aws:dynamodb:{region or '*'}:*:table/{table}"


def objects_arn(url: str) -> str:
    """The ARN of every object under the S3 location ``url``."""
    bucket, key = split_s3(url)
    prefix = key.strip("/")
    return f"arn:aws:s3:::{bucket}/{prefix + '/' if prefix else ''}*"


def s3_permissions(url: str, why: str, write: bool = True) -> list[Permission]:
    """Read (and write, delete) objects under ``url``, and list its prefix."""
    bucket, key = split_s3(url)
    prefix = key.strip("/")
    objects = objects_arn(url)
    actions = ["s3:GetObject"] + (["s3:PutObject", "s3:DeleteObject"] if write else [])
    listed = Permission("s3:ListBucket", f"arn:aws:s3:::{bucket}", why, prefix=f"{prefix}/*" if prefix else None)
    return [Permission(a, objects, why) for a in actions] + [listed]


def location_permissions(config: Any) -> list[Permission]:
    """What the configuration's own S3 locations need (savepoints, checkpoint, change log, dead letters)."""
    locations = []
    if config.savepoints is not None:
        locations.append((config.savepoints.path, "savepoints"))
    if config.target.stream_changes:
        locations += [(config.checkpoint_location, "the streaming checkpoint"),
                      (config.change_log_location, "the change log")]
    locations.append((config.dead_letter_path, "dead letters"))
    if config.validation is not None and config.validation.report_path:
        locations.append((config.validation.report_path, "the validation report"))
    found: list[Permission] = []
    covered: list[str] = []
    for path, why in locations:
        if not path or not is_s3(path):
            continue
        bucket_key = "/".join(split_s3(path)).rstrip("/")
        if any(bucket_key.startswith(c + "/") or bucket_key == c for c in covered):
            continue  # inside a location already granted (the checkpoint under savepoints.path)
        covered.append(bucket_key)
        found += s3_permissions(path, why)
    return found


def required(config: Any, side: str | None = None) -> list[Permission]:
    """Every permission the configured job needs (of one ``side`` only: source, target or storage)."""
    from .sources import backend_for as source_backend
    from .targets import backend_for as target_backend

    if config.tables is not None:
        found = _for_tables(config)
    else:
        found = ([dataclasses.replace(p, side="source") for p in source_backend(config.source).permissions(config)]
                 + [dataclasses.replace(p, side="target") for p in target_backend(config.target).permissions(config)]
                 + location_permissions(config))
    return [p for p in found if side is None or p.side == side]


def _for_tables(config: Any) -> list[Permission]:
    """A migration of many tables: ListTables, and what each ``include`` entry's tables need, on ARNs and
    folders with the entry's glob (IAM's ``*`` and ``?``; a ``[...]`` class becomes ``?``)."""
    from .config_tables import any_table, is_pattern

    tables = config.tables
    dynamodb = config.source.type in ("dynamodb", "dynamo", "alternator")
    found = [Permission("dynamodb:ListTables", "*", "tables: list the source's tables", side="source")
             ] if dynamodb else []
    for entry in dict.fromkeys(tables.include + list(tables.overrides)):
        if not is_pattern(entry):
            found += required(config.for_table(entry, tables.target_name(entry)))
            continue
        glob = re.sub(r"\[[^\]]*\]", "?", entry)
        anything = any_table(config.source)
        for p in required(config.for_table(anything, tables.target_name(anything))):
            found.append(dataclasses.replace(p, resource=p.resource.replace(anything, glob),
                                             prefix=p.prefix.replace(anything, glob) if p.prefix else None))
    return list(dict.fromkeys(found))


def policy(permissions: list[Permission]) -> dict[str, Any]:
    """An IAM policy document granting ``permissions``: one statement per resource (and prefix)."""
    statements: dict[tuple[str, str | None], list[str]] = {}
    for p in permissions:
        actions = statements.setdefault((p.resource, p.prefix), [])
        if p.action not in actions:
            actions.append(p.action)
    out = []
    for (resource, prefix), actions in statements.items():
        statement: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions), "Resource": resource}
        if prefix:
            statement["Condition"] = {"StringLike": {"s3:prefix": [prefix]}}
        out.append(statement)
    return {"Version": "2012-10-17", "Statement": out}


def table(permissions: list[Permission]) -> list[str]:
    """The permissions as text lines: action, resource, why."""
    seen: dict[tuple[str, str], list[str]] = {}
    for p in permissions:
        whys = seen.setdefault((p.action, p.resource), [])
        whys.extend(w for w in p.why.split("; ") if w not in whys)
    return [f"{action:<36} {resource:<56} {'; '.join(whys)}" for (action, resource), whys in seen.items()]
