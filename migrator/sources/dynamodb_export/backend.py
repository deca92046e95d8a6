"""An export read as a table: its manifests on the driver, one snapshot segment per data file.

The driver reads ``manifest-summary.json`` and ``manifest-files.json`` (a line per data file: the
plan grows with the files, never with the items); executors read the data files. A segment's
savepoint position is the count of lines read, so a rerun skips them and goes on from there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from ...clients import ClientSpec
from ...conditions import ItemFilter
from ...errors import MigratorError, SourceError
from ...export_layout import FORMAT, line_item, relative_key
from ...tables import TableInfo
from ...throttle import ThroughputCap
from ..base import PlannedSource, Segment
from .files import ExportFiles
from .ion import FORMAT as ION
from .ion import ion_records, require_ion

#: Items per page when no cap sets a page size: the savepoint's position moves every page.
PAGE_LINES = 1000


@dataclass(frozen=True)
class ExportSourceSpec:
    """The export's data files, read by executors; picklable."""

    files: ExportFiles
    data_files: tuple[str, ...]        # names relative to the folder; segment n reads data_files[n]
    format: str = FORMAT               # DYNAMODB_JSON (a line per item) or ION (a record per item)
    item_filter: ItemFilter | None = None   # source.filterExpression, applied to each item read
    #: An export has no index by key: the validator names no attribute of a difference.
    fetches_by_key = False

    def describe(self) -> str:
        return f"export {self.files.where()}"

    def pages(self, segment: Segment, limit: int | None, limiter: Any, stats: Any) -> Iterator[tuple[list, Any, int]]:
        """The items of data file ``segment.segment`` after the lines its position counts, a page at a time;
        each page's position is the count of lines read so far, then the items read for the page."""
        if segment.segment >= len(self.data_files):
            return  # an export without data files still has one (empty) segment
        name = self.data_files[segment.segment]
        skip = int((segment.start_key or {}).get("lines", 0))
        size = limit or PAGE_LINES
        page: list[dict] = []
        for number, item in self._items(name, skip):
            page.append(item)
            if len(page) >= size:
                yield self._matching(page), {"lines": number}, len(page)
                page = []
        yield self._matching(page), None, len(page)

    def read(self, partition: int) -> Iterator[dict]:
        """Every item of data file number ``partition`` (that matches the filter)."""
        items = (item for _, item in self._items(self.data_files[partition], 0))
        return (i for i in items if self.item_filter.matches(i)) if self.item_filter else items

    def _matching(self, page: list[dict]) -> list[dict]:
        return [i for i in page if self.item_filter.matches(i)] if self.item_filter else page

    def fetch(self, keys: list[dict]) -> list[dict]:
        raise SourceError(f"{self.describe()}: an export cannot be read by key")

    def _items(self, name: str, skip: int) -> Iterator[tuple[int, dict]]:
        """``(line number, item)`` for every item after line ``skip`` (records for Ion); a bad one names its file."""
        number = 0
        try:
            if self.format == ION:
                with self.files.reader(name) as stream:
                    for number, item in enumerate(ion_records(stream), 1):
                        if number > skip:
                            yield number, item
                return
            for number, line in enumerate(self.files.lines(name), 1):
                if number > skip:
                    item = line_item(line, number)
                    if item is not None:
                        yield number, item
        except (OSError, EOFError) as exc:
            raise SourceError(f"cannot read the export's data file {self.files.where(name)} after line {number}: "
                              f"{exc}") from exc
        except ValueError as exc:
            raise SourceError(f"export data file {self.files.where(name)}: {exc}") from exc


class ExportSource:
    """The driver half: the manifests, the table description of the configuration, no read cap, no stream."""

    streams = False
    change_log = False

    def describe(self, config: Any, max_connections: int = 10) -> PlannedSource:
        src = config.source
        folder, _, summary_name = src.manifest_key.replace("\\", "/").rpartition("/")
        spec = None
        if src.bucket:
            spec = ClientSpec.from_section(src, s3_path_style=bool(src.use_path_style_access),
                                           max_connections=max_connections)
        summary, export = read_export(ExportFiles(folder, src.bucket, spec), summary_name, src.manifest_path,
                                      item_filter=src.item_filter)
        return PlannedSource(_table_info(src, summary), export)

    def permissions(self, config: Any) -> list[Any]:
        from ...permissions import s3_permissions

        src = config.source
        if not src.bucket:
            return []
        folder = src.manifest_key.replace("\\", "/").rpartition("/")[0]
        return s3_permissions(f"s3://{src.bucket}/{folder}", "read the export", write=False)

    def preflight(self, config: Any) -> list[Any]:
        """The export's summary and manifest are read, as the plan reads them."""
        from ...preflight import Prober

        prober = Prober("source", f"export {config.source.manifest_key}")
        try:
            described = self.describe(config)
        except (MigratorError, OSError) as exc:
            prober.problem(str(exc))
        else:
            prober.ok(f"{described.spec.describe()}: {len(described.spec.data_files)} data files, "
                      f"~{described.info.item_count:,} items")
        return prober.findings

    def segment_count(self, config: Any, described: PlannedSource, cores: int) -> int:
        return max(1, len(described.spec.data_files))

    def segments_line(self, config: Any, cores: int) -> str:
        return "one per data file"

    def read_cap(self, config: Any, info: TableInfo, tasks: int) -> ThroughputCap:
        return ThroughputCap(None, None, "an export: no capacity units")

    def read_partitions(self, config: Any, described: PlannedSource, cores: int) -> list[int]:
        return list(range(len(described.spec.data_files)))

    def deferred_segments(self, config: Any, savepoint: Any) -> str | None:
        return None

    def snapshot_source(self, config: Any, described: PlannedSource, savepoint: Any, save: Any,
                        not_before: float | None, abort: Any = None) -> None:
        return None

    def stream_problem(self, info: TableInfo) -> str | None:
        return "an export is a snapshot with no stream of changes"


def read_export(files: ExportFiles, summary_name: str, where: str, setting: str = "source.manifestKey",
                item_filter: ItemFilter | None = None) -> tuple[dict, ExportSourceSpec]:
    """An export's summary and the spec that reads its data files, from its two manifests.

    ``where`` is the summary's location and ``setting`` the configuration key that gave it, for messages.
    """
    summary = _summary(files, summary_name, where, setting)
    files_key = summary["manifestFilesS3Key"]
    entries = _manifest_lines(files, relative_key(files_key, files_key))
    names = tuple(relative_key(e["dataFileS3Key"], files_key) for e in entries)
    return summary, ExportSourceSpec(files, names, summary.get("outputFormat") or FORMAT, item_filter)


def _summary(files: ExportFiles, name: str, where: str, setting: str) -> dict:
    try:
        summary = json.loads(files.text(name))
    except FileNotFoundError as exc:
        raise SourceError(f"{setting}: {exc}; give the key of the export's manifest-summary.json") from None
    except OSError as exc:
        raise SourceError(f"{setting}: cannot read {where}: {exc}") from exc
    except ValueError as exc:
        raise SourceError(f"{setting}: {where} is not a manifest-summary.json (not JSON: {exc})") from None
    if not isinstance(summary, dict) or "manifestFilesS3Key" not in summary:
        raise SourceError(f"{setting}: {where} is not a manifest-summary.json (no manifestFilesS3Key)")
    kind = summary.get("exportType", "FULL_EXPORT")
    if kind != "FULL_EXPORT":
        raise SourceError(f"{setting}: {where} is an {kind}, which holds changes rather than a table; "
                          "give a full export (ExportType FULL_EXPORT)")
    if summary.get("outputFormat") == ION:
        require_ion()
    elif summary.get("outputFormat", FORMAT) != FORMAT:
        raise SourceError(f"{setting}: {where} is in {summary.get('outputFormat')}; {FORMAT} and {ION} exports "
                          f"are read: export the table again with ExportFormat {FORMAT}")
    return summary


def _manifest_lines(files: ExportFiles, name: str) -> list[dict]:
    try:
        text = files.text(name)
    except OSError as exc:
        raise SourceError(f"the export's file list {files.where(name)} cannot be read: {exc}") from exc
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            entry["dataFileS3Key"]
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"{files.where(name)} line {number}: not a data file entry "
                              '({"dataFileS3Key": ...})') from None
        entries.append(entry)
    return entries


def _table_info(src: Any, summary: dict) -> TableInfo:
    described = src.table_description
    billing = described.billing_mode or "PAY_PER_REQUEST"
    throughput = described.provisioned_throughput
    provisioned = billing == "PROVISIONED"
    return TableInfo(
        name=src.table,
        key_schema=[(k.name, k.type) for k in described.key_schema],
        attribute_types={a.name: a.type for a in described.attribute_definitions},
        billing_mode=billing,
        read_capacity=throughput.read_capacity_units if provisioned and throughput else None,
        write_capacity=throughput.write_capacity_units if provisioned and throughput else None,
        item_count=int(summary.get("itemCount", 0) or 0),
        size_bytes=int(summary.get("billedSizeBytes", 0) or 0),
    )


BACKEND = ExportSource()
