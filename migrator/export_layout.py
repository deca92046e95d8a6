"""The layout of a DynamoDB table export (``ExportTableToPointInTime``, DYNAMODB_JSON), as files.

An export folder holds ``manifest-summary.json`` (one JSON object: item count, format, where the
file list is), ``manifest-files.json`` (one JSON object per line: a data file's key and item count)
and ``data/*.json.gz``: gzipped text, one ``{"Item": {...}}`` per line, the item in DynamoDB JSON
(numbers as strings, binary as base64). Scylla Migrator writes the same layout, with keys relative to
the folder; AWS writes them as keys of the bucket; :func:`relative_key` takes both. The export target
writes this layout and the export source reads it.
"""

from __future__ import annotations

import json
import time
from typing import Any, Iterator, Mapping

from .convert import item_from_wire, item_to_wire

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
        item = line_item(line, number)
        if item is not None:
            yield item


def line_item(line: bytes, number: int) -> dict[str, Any] | None:
    """The item of data file line ``number`` (raw DynamoDB JSON); None for a blank line."""
    if not line.strip():
        return None
    try:
        return item_from_wire(json.loads(line)["Item"])
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


def relative_key(key: str, files_key: str) -> str:
    """A manifest's key (of ``manifest-files.json`` or a data file) relative to the export folder.

    ``files_key`` is the summary's ``manifestFilesS3Key``: AWS writes it, and every data file key,
    as a key of the bucket (``prefix/AWSDynamoDB/<id>/data/...``), Scylla Migrator and this writer
    relative to the folder (``data/...``). Its folder part is the export folder as the keys see it,
    so stripping it works wherever the export was copied to (another prefix, a local directory).
    """
    folder = files_key.rpartition("/")[0]
    return key[len(folder) + 1:] if folder and key.startswith(folder + "/") else key


def _iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(seconds))
