"""Snapshot savepoints: per segment, whether it is done and the last key copied.

One JSON file per migration (``snapshot-<source>-to-<target>.json`` under ``savepoints.path``, a
local directory or an ``s3://`` prefix), replaced atomically, so that a crash at any moment leaves
either the old or the new file. It holds table names, endpoints and keys, never credentials. The
segment count is pinned in it: a rerun uses
the savepoint's count whatever the configuration says, or the saved keys would mean nothing.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from . import storage
from .errors import SavepointError

VERSION = 1


@dataclass
class SegmentState:
    """Progress of one Scan segment.

    Attributes
    ----------
    last_key : dict or None
        The last ``LastEvaluatedKey`` whose page is fully written, in wire form.
    items, skipped : int
        Items written and items skipped (expired TTL) up to ``last_key``.
    filtered : int
        Items the source examined that ``filterExpression`` left out, up to ``last_key``.
    """

    done: bool = False
    last_key: dict | None = None
    items: int = 0
    skipped: int = 0
    filtered: int = 0


@dataclass
class SnapshotSavepoint:
    """Progress of a whole snapshot copy."""

    source_table: str
    target_table: str
    total_segments: int
    source_endpoint: str = ""
    target_endpoint: str = ""
    segments: dict[int, SegmentState] = field(default_factory=dict)
    #: With streamChanges: the stream whose changes follow the snapshot, and when it was pinned
    #: (before the first Scan page was read).
    started_at: float = field(default_factory=time.time)
    updated_at: float = 0.0
    completed_at: float | None = None
    stream_arn: str | None = None
    stream_pinned_at: float | None = None
    #: With the change log (streaming.changeLog): where it is, the last batch of it applied to the
    #: target, and whether it is applied in full (replication then goes on live).
    change_log_path: str | None = None
    change_log_applied: int = -1
    change_log_done: bool = False
    #: With source.exportSnapshot: the export requested (until it completes or fails), then the
    #: ``s3://`` location of its manifest-summary.json, which the snapshot reads.
    export_arn: str | None = None
    export_manifest: str | None = None
    #: A MongoDB source: the ``_id`` values between its segments (canonical extended JSON), chosen once so that
    #: a rerun reads the same ranges.
    split_points: list[str] | None = None
    version: int = VERSION

    def segment(self, number: int) -> SegmentState:
        return self.segments.setdefault(number, SegmentState())

    @property
    def started(self) -> bool:
        """Whether the snapshot has copied anything: a segment done, or items written in one."""
        return bool(self.done_segments or any(s.items for s in self.segments.values()))

    @property
    def done_segments(self) -> set[int]:
        return {n for n, s in self.segments.items() if s.done}

    @property
    def complete(self) -> bool:
        return len(self.done_segments) == self.total_segments

    def to_json(self) -> str:
        data = asdict(self)
        data["segments"] = {str(n): asdict(s) for n, s in sorted(self.segments.items())}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: str = "") -> "SnapshotSavepoint":
        try:
            data = json.loads(text)
            if data.get("version") != VERSION:
                raise SavepointError(
                    f"savepoint {path} has version {data.get('version')!r}, this migrator reads {VERSION}",
                    path,
                )
            segments = {int(n): SegmentState(**s) for n, s in data.pop("segments", {}).items()}
            return cls(segments=segments, **data)
        except SavepointError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise SavepointError(
                f"savepoint {path} is unreadable ({exc}); move it away to start the copy over", path
            ) from exc


def savepoint_name(source_table: str, target_table: str) -> str:
    """The file name of the snapshot savepoint of one source → target pair."""
    safe = re.compile(r"[^A-Za-z0-9_.\-]")
    return f"snapshot-{safe.sub('_', source_table)}-to-{safe.sub('_', target_table)}.json"


class SavepointStore:
    """Reads and atomically replaces one savepoint file in a local directory or under an S3 prefix."""

    def __init__(self, directory: str, name: str):
        self.directory = directory
        self.path = storage.join(directory, name)

    def load(self) -> SnapshotSavepoint | None:
        try:
            text = storage.read_text(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise SavepointError(f"cannot read savepoint {self.path}: {exc.strerror or exc}", self.path) from exc
        return SnapshotSavepoint.from_json(text, self.path)

    def save(self, savepoint: SnapshotSavepoint) -> None:
        savepoint.updated_at = time.time()
        try:
            storage.write_text(self.path, savepoint.to_json())
        except OSError as exc:
            raise SavepointError(f"cannot write savepoint {self.path}: {exc.strerror or exc}", self.path) from exc
