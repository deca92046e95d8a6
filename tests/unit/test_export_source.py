"""``source.type: dynamodb-s3-export`` read from a local folder: manifests, every type, positions, errors."""

from __future__ import annotations

import gzip
import json
import os
from decimal import Decimal

import pytest

from migrator.config import parse_config
from migrator.errors import MigratorError, SourceError
from migrator.sources.base import Segment
from migrator.sources.dynamodb_export.backend import BACKEND
from tests.export_fixture import (EXPECTED, EXPORT_ID, ION_EXPORT_ID, ION_FIXTURE, ION_SUMMARY_KEY, SUMMARY_KEY,
                                  TABLE_DESCRIPTION, aws_export)


def config_for(manifest: str, **source):
    return parse_config({
        "source": {"type": "dynamodb-s3-export", "manifestKey": manifest, "tableDescription": TABLE_DESCRIPTION,
                   **source},
        "target": {"type": "dynamodb", "table": "Orders", "endpoint": {"host": "http://localhost", "port": 8000}},
    })


@pytest.fixture
def export(tmp_path):
    root = aws_export(str(tmp_path / "copied-elsewhere"))
    return root, os.path.join(root, SUMMARY_KEY)


def all_items(spec, total):
    return [item for n in range(total) for page, _, _ in spec.pages(Segment(n, total), None, None, None) for item in page]


def test_an_aws_export_reads_exactly_with_the_table_description(export):
    _, manifest = export
    config = config_for(manifest)
    described = BACKEND.describe(config)
    info, spec = described.info, described.spec
    assert info.key_schema == [("pk", "HASH"), ("sk", "RANGE")] and info.attribute_types == {"pk": "S", "sk": "N"}
    assert (info.billing_mode, info.read_capacity, info.write_capacity) == ("PROVISIONED", 5, 7)
    assert (info.item_count, info.name, config.target_table) == (7, EXPORT_ID, "Orders")
    # AWS's keys are the bucket's (AWSDynamoDB/<id>/data/...): read relative to wherever the export is now.
    assert [name[:5] for name in spec.data_files] == ["data/"] * 3
    assert BACKEND.segment_count(config, described, cores=8) == 3 == len(BACKEND.read_partitions(config, described, 2))
    assert all_items(spec, 3) == EXPECTED
    assert [i for n in range(3) for i in spec.read(n)] == EXPECTED
    assert not spec.fetches_by_key


def test_positions_count_lines_so_that_a_resumed_file_skips_what_was_written(export):
    _, manifest = export
    spec = BACKEND.describe(config_for(manifest)).spec
    # File 0: items on lines 1, 2, 4 and 5 (line 3 is blank).
    pages = list(spec.pages(Segment(0, 3), 2, None, None))
    assert [([i["pk"]["S"] for i in page], position, read) for page, position, read in pages] == [
        (["order#1", "order#1"], {"lines": 2}, 2), (["order#2", "order#3"], {"lines": 5}, 2), ([], None, 0)]
    resumed = list(spec.pages(Segment(0, 3, {"lines": 2}), 1, None, None))
    assert resumed == [([EXPECTED[2]], {"lines": 4}, 1), ([EXPECTED[3]], {"lines": 5}, 1), ([], None, 0)]
    assert list(spec.pages(Segment(1, 3), None, None, None)) == [([], None, 0)]  # the empty data file


def test_a_folder_relative_export_and_one_without_data_files(tmp_path):
    folder = tmp_path / "ours"
    (folder / "data").mkdir(parents=True)
    with gzip.open(folder / "data" / "00000.json.gz", "wb") as f:
        f.write(b'{"Item":{"pk":{"S":"a"},"sk":{"N":"1"}}}\n')
    (folder / "manifest-files.json").write_text('{"itemCount": 1, "dataFileS3Key": "data/00000.json.gz"}\n')
    (folder / "manifest-summary.json").write_text(json.dumps({"manifestFilesS3Key": "manifest-files.json",
                                                              "itemCount": 1, "outputFormat": "DYNAMODB_JSON"}))
    spec = BACKEND.describe(config_for(str(folder / "manifest-summary.json"))).spec
    assert all_items(spec, 1) == [{"pk": {"S": "a"}, "sk": {"N": "1"}}]
    (folder / "manifest-files.json").write_text("")
    config = config_for(str(folder / "manifest-summary.json"))
    described = BACKEND.describe(config)
    assert BACKEND.segment_count(config, described, 2) == 1 and all_items(described.spec, 1) == []


def test_what_cannot_be_read_is_named(export, tmp_path):
    root, manifest = export
    with pytest.raises(SourceError, match="source.manifestKey: .*missing.json.*no such"):
        BACKEND.describe(config_for(os.path.join(root, "missing.json")))
    summary = json.loads(open(manifest).read())
    for changes, message in (({"outputFormat": "CSV"}, "is in CSV; DYNAMODB_JSON and ION exports are read"),
                             ({"exportType": "INCREMENTAL_EXPORT"}, "holds changes rather than a table")):
        other = tmp_path / f"summary-{len(message)}.json"
        other.write_text(json.dumps({**summary, **changes}))
        with pytest.raises(SourceError, match=message):
            BACKEND.describe(config_for(str(other)))
    data = os.path.join(root, "AWSDynamoDB", EXPORT_ID, "data", "w4u7kcyz3a5rpdyd2vplxsz5hu.json.gz")
    with gzip.open(data, "wb") as f:
        f.write(b'{"Item":{"pk":{"S":"ok"},"sk":{"N":"1"}}}\n{"pk":{"S":"no Item"}}\n')
    spec = BACKEND.describe(config_for(manifest)).spec
    with pytest.raises(SourceError, match="w4u7kcyz3a5rpdyd2vplxsz5hu.json.gz: line 2 is not an export item"):
        list(spec.pages(Segment(2, 3), None, None, None))


def test_the_configuration_says_what_an_export_source_cannot_do(export):
    _, manifest = export
    from migrator.errors import ConfigError

    base = {"type": "dynamodb-s3-export", "manifestKey": manifest, "tableDescription": TABLE_DESCRIPTION}
    with pytest.raises(ConfigError) as raised:
        parse_config({"source": {**base, "tableDescription": {**TABLE_DESCRIPTION, "keySchema": [
            {"name": "sk", "type": "RANGE"}, {"name": "pk", "type": "HASH"}]}},
            "target": {"type": "dynamodb", "streamChanges": True}, "skipSegments": [1],
            "savepoints": {"path": "/tmp/sp"}, "validation": {"copyMissingRows": True}})
    text = str(raised.value)
    for expected in ("keySchema: got ['RANGE', 'HASH']", "target.table: an export names no table",
                     "target.streamChanges: an export is a snapshot", "skipSegments: an export is read",
                     "validation.copyMissingRows: an export cannot be read by key"):
        assert expected in text


def by_value(value):
    """Numbers as Decimal, so that ``1d38`` (Ion) and ``100000000000000000000000000000000000000`` compare equal."""
    if isinstance(value, list):
        return [by_value(v) for v in value]
    if isinstance(value, dict):
        return {k: (Decimal(v) if k == "N" else [Decimal(n) for n in v] if k == "NS" else by_value(v))
                for k, v in value.items()}
    return value


def test_an_ion_export_reads_exactly_by_value(tmp_path):
    root = aws_export(str(tmp_path / "ion"), ION_FIXTURE, ION_EXPORT_ID)
    described = BACKEND.describe(config_for(os.path.join(root, ION_SUMMARY_KEY)))
    spec = described.spec
    assert spec.format == "ION" and described.info.item_count == 7
    items = all_items(spec, 2)
    assert by_value(items) == by_value(EXPECTED)
    assert items[0]["tiny"] == {"N": "-1E-38"} and items[5]["sk"] == {"N": "1E+38"}  # exact, in Decimal's text
    # A record's position is its number in the file: a resumed file skips the records written.
    pages = list(spec.pages(Segment(0, 2, {"lines": 3}), None, None, None))
    assert pages == [([EXPECTED[3]], None, 1)]


def test_what_an_ion_export_cannot_hold_is_named(tmp_path):
    root = aws_export(str(tmp_path / "ion"), ION_FIXTURE, ION_EXPORT_ID)
    data = os.path.join(root, "AWSDynamoDB", ION_EXPORT_ID, "data", "m5nb2vqz6c7xdyhg4kjrt3opla.ion.gz")
    spec = BACKEND.describe(config_for(os.path.join(root, ION_SUMMARY_KEY))).spec
    for text, message in ((b'{Item:{pk:"a",sk:1.}}\n{Item:{pk:"b",sk:2e0}}', "record 2: attribute sk is an Ion float"),
                          (b'{Item:{pk:"a",at:2025-12-01T00:00:00Z}}', "record 1: attribute at is an Ion timestamp"),
                          (b'{Item:{m:{l:[1., a::b]}}}', r"record 1: attribute m.l\[1\] is an Ion symbol"),
                          (b'{Item:{pk:"a",s:$dynamodb_NS::["x"]}}', "record 1: attribute s is a NS set with a member"),
                          (b'{Item:{pk:"a"}} {Item:{pk:', "record 2 is not valid Ion"),
                          (b'{pk:"no Item"}', "record 1 is not an export item")):
        with gzip.open(data, "wb") as f:
            f.write(text)
        with pytest.raises(SourceError, match="m5nb2vqz6c7xdyhg4kjrt3opla.ion.gz: " + message):
            list(spec.pages(Segment(1, 2), None, None, None))


def test_an_ion_export_without_the_ion_extra_says_which_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ion(name, *args, **kwargs):
        if name.startswith("amazon.ion"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    root = aws_export(str(tmp_path / "ion"), ION_FIXTURE, ION_EXPORT_ID)
    monkeypatch.setattr(builtins, "__import__", no_ion)
    with pytest.raises(MigratorError, match=r"pip install 'migrator\[ion\]'"):
        BACKEND.describe(config_for(os.path.join(root, ION_SUMMARY_KEY)))


def test_a_filter_keeps_the_matching_items_and_counts_what_it_read(export):
    _, manifest = export
    spec = BACKEND.describe(config_for(manifest, filterExpression="sk >= :one",
                                       expressionAttributeValues={":one": {"N": "1"}})).spec
    kept = [i for i in EXPECTED if Decimal(i["sk"]["N"]) >= 1]
    assert all_items(spec, 3) == kept and [i for n in range(3) for i in spec.read(n)] == kept
    pages = list(spec.pages(Segment(0, 3), None, None, None))   # file 0: order#1 (1, 2), order#2 (-7.5), order#3 (0)
    assert [(len(page), read) for page, _, read in pages] == [(2, 4)]
