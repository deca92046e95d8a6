"""Where items go that the target refuses: JSON lines with the key, the reason and the raw item.

Each task writes its own file, so no two processes append to the same one. The directory is local
to the process that writes (on a cluster: each executor's disk, or a shared mount).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from typing import Any, Mapping

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
        record = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "table": table,
            "key": item_to_wire(key),
            "reason": reason,
            "item": item_to_wire(item) if item is not None else None,
        }
        line = json.dumps(record, sort_keys=True) + "\n"
        with self._lock:
            if self._file is None:
                os.makedirs(self.directory, exist_ok=True)
                self.path = os.path.join(self.directory, f"{self.name}-{uuid.uuid4().hex[:8]}.jsonl")
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_dead_letters(directory: str) -> list[dict[str, Any]]:
    """Every record under ``directory`` (for tests and for a user's own replay script)."""
    records: list[dict[str, Any]] = []
    if not os.path.isdir(directory):
        return records
    for name in sorted(os.listdir(directory)):
        if name.endswith(".jsonl"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                records.extend(json.loads(line) for line in f if line.strip())
    return records
