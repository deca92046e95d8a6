"""Where items go that the target refuses: JSON lines with the key, the reason and the raw item.

Each task writes its own file, so no two processes append to the same one. A local directory is
local to the process that writes (on a cluster: each executor's disk, or a shared mount); with an
``s3://`` directory each task keeps its file on local disk while it runs and uploads it whole when
it closes, so every dead letter of a cluster run ends up in one place.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
import uuid
from typing import Any, Mapping

from . import storage
from .convert import item_to_wire


class DeadLetterWriter:
    """Appends refused items to ``<directory>/<name>-<unique>.jsonl``, opening the file lazily.

    Parameters
    ----------
    directory : str
        Created when the first item arrives.
    name : str
        A prefix naming the table and the task.
    """

    def __init__(self, directory: str, name: str):
        self.directory = directory
        self.name = name
        self.count = 0
        self.path: str | None = None
        self._file = None
        self._lock = threading.Lock()

    def write(self, table: str, key: Mapping[str, Any], reason: str, item: Mapping[str, Any] | None) -> None:
        """Record one refused item (or delete, when ``item`` is None)."""
        self._append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "table": table,
                      "key": item_to_wire(key), "reason": reason,
                      "item": item_to_wire(item) if item is not None else None})

    def write_document(self, table: str, document: Any, reason: str) -> None:
        """Record one MongoDB document that cannot become an item: ``_id`` and ``document`` in canonical extended
        JSON (every BSON type kept), so that it can be fixed and written again."""
        from bson import json_util

        options = json_util.CANONICAL_JSON_OPTIONS
        self._append({"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "table": table,
                      "_id": json.loads(json_util.dumps(document.get("_id"), json_options=options)),
                      "reason": reason, "document": json.loads(json_util.dumps(document, json_options=options))})

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            if self._file is None:
                self.path = storage.join(self.directory, f"{self.name}-{uuid.uuid4().hex[:8]}.jsonl")
                if storage.is_s3(self.directory):
                    self._file = tempfile.NamedTemporaryFile("w+", encoding="utf-8", suffix=".jsonl")
                else:
                    os.makedirs(self.directory, exist_ok=True)
                    self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        """Close the file; for S3, upload it (a failed upload fails the task, which Spark retries)."""
        with self._lock:
            if self._file is None:
                return
            try:
                if storage.is_s3(self.directory):
                    self._file.seek(0)
                    storage.put_bytes(self.path, self._file.read().encode("utf-8"))
            finally:
                self._file.close()
                self._file = None


def read_dead_letters(directory: str) -> list[dict[str, Any]]:
    """Every record under ``directory``, local or S3 (for tests and for a user's replay script)."""
    records: list[dict[str, Any]] = []
    for path in storage.list_names(directory, ".jsonl"):
        records.extend(json.loads(line) for line in storage.read_text(path).splitlines() if line.strip())
    return records
