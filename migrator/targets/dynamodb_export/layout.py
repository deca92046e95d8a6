"""The layout of a DynamoDB table export (``ExportTableToPointInTime``, DYNAMODB_JSON), as files.

An export folder holds ``manifest-summary.json`` (one JSON object: item count, format, where the
file list is), ``manifest-files.json`` (one JSON object per line: a data file's key and item count)
and ``data/*.json.gz``: gzipped text, one ``{"Item": {...}}`` per line, the item in DynamoDB JSON
(numbers as strings, binary as base64). Scylla Migrator writes the same layout, with data file keys
relative to the folder; AWS writes them as keys of the bucket; :func:`data_file_path` takes both.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator, Mapping

from ...convert import item_from_wire, item_to_wire

SUMMARY = "manifest-summary.json"
FILES = "manifest-files.json"
VERSION = "2020-06-30"
FORMAT = "DYNAMODB_JSON"


def data_file_key(number: int) -> str:
    """The key, relative to the export folder, of partition ``number``'s data file."""
    return f"data/{number:05d}.json.gz"


def item_line(item: Mapping[str, Any]) -> bytes:
    """One data file line: the item (raw DynamoDB JSON, bytes for binary) as ``{"Item": ...}``."""
    return (json.dumps({"Item": item_to_wire(item)}, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def items_of(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The items of a data file's lines, in raw DynamoDB JSON (binary as bytes)."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield item_from_wire(json.loads(line)["Item"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number} is not an export item ({{\"Item\": {{...}}}}): {exc}") from exc


def files_manifest(entries: list[tuple[str, int]]) -> str:
    """``manifest-files.json`` for ``(data file key, item count)`` entries."""
    return "".join(json.dumps({"itemCount": count, "dataFileS3Key": key}) + "\n" for key, count in entries)


def summary(item_count: int, key_schema: list[tuple[str, str]], attribute_types: Mapping[str, str],
            table: str, started: float, ended: float) -> str:
    """``manifest-summary.json`` of a finished export."""
    return json.dumps({
        "version": VERSION,
        "exportType": "FULL_EXPORT",
        "outputFormat": FORMAT,
        "manifestFilesS3Key": FILES,
        "itemCount": item_count,
        "tableName": table,
        "startTime": _iso(started),
        "endTime": _iso(ended),
        "tableKeySchema": [{"AttributeName": n, "KeyType": t} for n, t in key_schema],
        "tableAttributeDefinitions": [{"AttributeName": n, "AttributeType": t}
                                      for n, t in sorted(attribute_types.items())],
    }, indent=1) + "\n"


def data_file_path(folder: str, key: str, bucket_root: str | None) -> str:
    """Where a manifest's data file key points: under the bucket (AWS) when it starts with the folder's
    own key prefix, else relative to the folder (Scylla Migrator, this writer)."""
    if bucket_root is not None:
        prefix = folder[len(bucket_root):].strip("/")
        if prefix and key.startswith(prefix + "/"):
            return bucket_root.rstrip("/") + "/" + key
    return folder.rstrip("/") + "/" + key


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))
