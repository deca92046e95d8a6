"""Writing one data file of an export: a task's items, gzipped, published whole when it closes.

A task writes its partition to a temporary local file and publishes it under its final name (a
rename locally, one ``PutObject`` on S3) only once every item is in. A task that fails publishes
nothing, and its retry writes the whole file again under the same name: a file is never half there,
and never there twice. So the savepoint learns nothing about a partition until its file is
published (a crashed partition is copied again from its start).
"""

from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ... import storage
from ...errors import TargetError
from ..pipeline import WriteStats
from ...export_layout import data_file_key, item_line, items_of


@dataclass(frozen=True)
class ExportTargetSpec:
    """Where executors write the export; picklable. S3 goes through boto3's default credential chain."""

    path: str
    key_names: list[str]
    #: The validator cannot fetch an item by key from an export (it would read every file).
    fetches_by_key = False

    @property
    def name(self) -> str:
        """The folder's last name (labels and file names use it)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def describe(self) -> str:
        return f"a DynamoDB export at {self.path}"

    def writer(self, dead_letter: Any = None, dedupe: bool = False, limiter: Any = None, snapshot: bool = False,
               partition: int = 0) -> "ExportWriter":
        """The writer of partition ``partition``'s data file."""
        return ExportWriter(storage.join(self.path, *data_file_key(partition).split("/")))

    def stored(self, item: dict) -> dict:
        return item  # an export holds DynamoDB JSON as it is

    def read(self, partition: str) -> Iterator[dict]:
        """Every item of one data file (its full path)."""
        with _opened(partition) as lines:
            yield from items_of(lines)

    def fetch(self, keys: list[dict]) -> list[dict]:
        raise TargetError("an export cannot be read by key")


class ExportWriter:
    """Puts to one gzipped data file; the writer interface of the snapshot (``put``, ``mark``,
    ``committed``, ``flush``, ``close``, ``stats``)."""

    def __init__(self, path: str):
        self.path = path
        self.stats = WriteStats()
        self._mark: Any = None
        self._published = False
        fd, self._tmp = tempfile.mkstemp(prefix="export-", suffix=".json.gz")
        self._raw = os.fdopen(fd, "wb")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0)

    def put(self, item: Mapping[str, Any]) -> None:
        self._gz.write(item_line(item))
        self.stats.puts += 1

    def delete(self, key: Mapping[str, Any]) -> None:
        raise TargetError(f"an export target takes no deletes (key {dict(key)}): it holds a snapshot")

    def mark(self, token: Any) -> None:
        self._mark = token

    def committed(self) -> Any:
        """Nothing until the file is published: a partition resumes from its start."""
        return self._mark if self._published else None

    def flush(self) -> None:
        """Publish the file (an empty partition publishes none)."""
        if self._published:
            return
        self._gz.close()
        self._raw.close()
        if self.stats.puts:
            if storage.is_s3(self.path):
                storage.upload_file(self._tmp, self.path)
            else:
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                os.replace(self._tmp, self.path)
        self._published = True

    def close(self) -> None:
        if not self._gz.closed:
            self._gz.close()
        self._raw.close()
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


class _opened:
    """The lines of a gzipped data file, local or on S3."""

    def __init__(self, path: str):
        self.path = path

    def __enter__(self) -> Iterator[bytes]:
        self._raw = storage.open_binary(self.path)
        self._file = gzip.GzipFile(fileobj=self._raw, mode="rb")
        return iter(self._file)

    def __exit__(self, *exc: Any) -> None:
        self._file.close()
        self._raw.close()
