"""The export layout's pieces: data file lines, manifest keys, and a data file published whole."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from devtools import datagen
from migrator.errors import TargetError
from migrator.export_layout import files_manifest, item_line, items_of, relative_key
from migrator.targets.dynamodb_export.writer import ExportTargetSpec


def test_every_type_survives_a_data_file_line():
    items = datagen.all_types_items()
    lines = [item_line(item) for item in items]
    assert all(line.endswith(b"\n") and json.loads(line).keys() == {"Item"} for line in lines)
    assert list(items_of(iter(lines + [b"\n"]))) == items


def test_a_line_that_is_not_an_item_names_its_number():
    with pytest.raises(ValueError, match="line 2 is not an export item"):
        list(items_of(iter([item_line({"pk": {"S": "a"}}), b'{"pk": {"S": "b"}}\n'])))


def test_manifest_keys_relative_to_the_folder_or_to_the_bucket():
    aws_files = "exports/AWSDynamoDB/0171-abc/manifest-files.json"
    assert relative_key("exports/AWSDynamoDB/0171-abc/data/x1.json.gz", aws_files) == "data/x1.json.gz"
    assert relative_key(aws_files, aws_files) == "manifest-files.json"
    assert relative_key("data/00001.json.gz", "manifest-files.json") == "data/00001.json.gz"
    # A key outside the folder the summary names is taken as relative (as Scylla Migrator does).
    assert relative_key("elsewhere/data/x.json.gz", aws_files) == "elsewhere/data/x.json.gz"
    assert files_manifest([("data/00000.json.gz", 3)]) == '{"itemCount": 3, "dataFileS3Key": "data/00000.json.gz"}\n'


def test_a_data_file_appears_whole_or_not_at_all(tmp_path):
    spec = ExportTargetSpec(str(tmp_path), ["pk"])
    path = tmp_path / "data" / "00004.json.gz"
    failed = spec.writer(partition=4)
    failed.put({"pk": {"S": "a"}})
    failed.mark("token")
    assert failed.committed() is None
    failed.close()  # a failed task: closed without a flush
    assert not path.exists()

    writer = spec.writer(partition=4)
    for n in range(3):
        writer.put({"pk": {"S": f"k{n}"}, "b": {"B": bytes([n, 255])}})
    writer.mark("token")
    writer.flush()
    writer.close()
    assert writer.committed() == "token" and writer.stats.puts == 3
    assert list(spec.read(str(path))) == [{"pk": {"S": f"k{n}"}, "b": {"B": bytes([n, 255])}} for n in range(3)]
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 3
    assert not any(name.startswith("export-") for name in os.listdir(tmp_path / "data"))

    empty = spec.writer(partition=5)
    empty.flush()
    empty.close()
    assert not (tmp_path / "data" / "00005.json.gz").exists()
    refusing = spec.writer(partition=6)
    with pytest.raises(TargetError, match="takes no deletes"):
        refusing.delete({"pk": {"S": "a"}})
    refusing.close()
