"""A DynamoDB table export as the target: ``target.type: dynamodb-s3-export`` with a ``path``.

The snapshot writes one gzipped DYNAMODB_JSON data file per Scan segment (``writer.py``) and, once
every segment is in, the manifests (:mod:`migrator.export_layout`): the layout of AWS's ``ExportTableToPointInTime``
and of Scylla Migrator's export target. DynamoDB's ImportTable reads the data files (point it at
``<path>/data/``). ``path`` is a local directory or ``s3://bucket/prefix`` (boto3's default
credentials; ``AWS_ENDPOINT_URL_S3`` for an S3-compatible store).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ... import storage
from ...tables import TableInfo
from ...throttle import ThroughputCap
from ..base import PlannedTarget
from ...export_layout import FILES, SUMMARY, data_file_key, files_manifest, summary
from .writer import ExportTargetSpec


@dataclass(frozen=True)
class ExportPlan:
    """What the job will do with the export folder: ``create`` it, ``resume`` this migration's unfinished
    one, or ``use`` a finished one (the validator)."""

    action: str
    table: str
    source: TableInfo
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if self.problems:
            return [f"  target       : INCOMPATIBLE: {p}" for p in self.problems]
        if self.action == "use":
            return [f"  target       : the export at {self.table} (finished)"]
        if self.action == "resume":
            return [f"  target       : the unfinished export at {self.table}: resuming it"]
        return [f"  target       : will write an export to {self.table}: data/NNNNN.json.gz per segment, "
                f"then {FILES} and {SUMMARY}"]


class ExportBackend:
    """Plans an export folder and writes its manifests; an export has no capacity to cap."""

    def plan(self, config: Any, source: TableInfo, key_names: list[str], resuming: bool,
             now: float | None = None) -> PlannedTarget:
        path = config.target.path
        spec = ExportTargetSpec(path, key_names)
        finished = storage.exists(storage.join(path, SUMMARY))
        started = bool(storage.list_names(storage.join(path, "data"), ".json.gz"))
        problems = []
        if finished and not resuming:
            problems.append(f"target.path: {path} already holds a finished export ({SUMMARY}); choose another "
                            "path, or move it away")
        elif started and not resuming:
            problems.append(f"target.path: {path}/data holds data files of another export and no savepoint of "
                            "this migration says they are its own; choose another path, or move them away")
        action = "create"
        if resuming and finished:
            action = "use"
        elif resuming and started:
            action = "resume"
        return PlannedTarget(ExportPlan(action, path, source, problems), spec)

    def permissions(self, config: Any) -> list[Any]:
        from ...permissions import s3_permissions

        return s3_permissions(config.target.path, "the export") if storage.is_s3(config.target.path) else []

    def preflight(self, config: Any, source: TableInfo | None) -> list[Any]:
        from ...preflight import location_finding

        return [location_finding("target", "target.path", config.target.path)]

    def prepare(self, config: Any, planned: PlannedTarget) -> None:
        """Nothing to create: tasks write their files, :meth:`finish` the manifests."""

    def write_cap(self, config: Any, planned: PlannedTarget, tasks: int) -> ThroughputCap:
        return ThroughputCap(None, None, "an export: no capacity units")

    def writes_line(self, config: Any) -> str:
        return "each segment into one gzipped DYNAMODB_JSON data file, published when complete"

    def read_partitions(self, config: Any, spec: ExportTargetSpec, cores: int) -> tuple[list[Any], int]:
        """One partition per data file; the count from the summary."""
        import json

        files = storage.list_names(storage.join(spec.path, "data"), ".json.gz")
        try:
            count = json.loads(storage.read_text(storage.join(spec.path, SUMMARY))).get("itemCount", 0)
        except FileNotFoundError:
            count = 0  # unfinished: no summary yet
        return files, int(count)

    def finish(self, config: Any, planned: PlannedTarget, savepoint: Any) -> None:
        """Write ``manifest-files.json`` (segments with items, in order), then ``manifest-summary.json``:
        a reader that finds the summary finds every file it lists."""
        entries = [(data_file_key(n), state.items) for n, state in sorted(savepoint.segments.items())
                   if state.done and state.items]
        path = config.target.path
        storage.write_text(storage.join(path, FILES), files_manifest(entries))
        source = planned.plan.source
        renames = config.rename_map
        keys = [(renames.get(n, n), t) for n, t in source.key_schema]
        types = {renames.get(n, n): t for n, t in source.attribute_types.items()}
        storage.write_text(storage.join(path, SUMMARY), summary(sum(c for _, c in entries), keys, types,
                                                              config.target_table, savepoint.started_at,
                                                              time.time()))


BACKEND = ExportBackend()
