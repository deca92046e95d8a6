"""``migrator validate``: both sides scanned in parallel on Spark, joined by key, compared.

Source and target partitions (each side's own: groups of Scan segments, ranges of MongoDB ``_id``s)
are read by executors; every item becomes ``(key, side, 16-byte digest)``; a shuffle groups the two sides of
each key, and each group is compared where it lands. Only counts and the first ``failuresToFetch``
differences reach the driver, which fetches those items again by key to name the attributes that
differ; fixes (``copyMissingRows``) fetch and write on executors. Tables far larger than the
driver's memory validate. With a ``floatingPointTolerance``, whole items cross the shuffle instead
of digests (a tolerance cannot be checked on a digest).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..config import MigratorConfig, Validation
from ..convert import item_key, item_to_wire, rename_item, ttl_expired
from ..errors import SourceError
from ..metrics import Metrics
from ..progress import CountServer, ProgressAddress, ProgressClient, RateMeter, progress_line
from ..sources import backend_for as source_backend_for
from ..targets import backend_for
from ..validation import Difference, compare_items, digest, in_sample, key_id
from .refetch import Sides, copy_fixes, detail
from .ui import spark_job

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class ReadTask:
    """One partition of one side, read by that side's reader (``read(partition)``)."""

    side: str                      # "S" (source) or "T" (target)
    reader: Any                    # the source's reader, or the target's spec
    partition: Any                 # the reader's own: a group of Scan segments, a range of _id...
    target: Any                    # the target's spec: source items are compared as it stores them
    key_names: list[str]           # target key names (after renames)
    renames: dict[str, str]
    sample: float | None = None
    full: bool = False             # ship whole items (needed for a tolerance), not digests
    ttl_attribute: str | None = None
    now: float = 0.0
    progress: ProgressAddress | None = None  # where to report items read (the driver's progress line)
    number: int = 0


def read_side(task: ReadTask) -> Iterator[tuple[str, tuple]]:
    """``(key id, (side, key, digest or item, expired))`` for every item of the partition.

    Only a 16-byte digest of each item crosses the shuffle, unless a tolerance needs the values.
    """
    items = task.reader.read(task.partition)
    read = [0]
    progress = ProgressClient(task.progress, task.number)
    progress.start()
    progress.follow(lambda: None, lambda: read[0])
    try:
        for item in items:
            read[0] += 1
            if task.side == "S":
                item = task.target.stored(rename_item(item, task.renames))
            key = item_key(item, task.key_names)
            kid = key_id(key)
            if in_sample(kid, task.sample):
                expired = ttl_expired(item, task.ttl_attribute, task.now)
                yield kid, (task.side, key, item if task.full else digest(item), expired)
        progress.finish(read[0], 0)
    finally:
        progress.close()


def compare_groups(tolerance: float, groups: Iterator[tuple[str, Any]]) -> Iterator[tuple]:
    """``("count", counts)`` once per partition, then ``("diff", difference, key)`` for each one."""
    counts = {"keys": 0, "missing": 0, "extra": 0, "different": 0}
    diffs = []
    for _, entries in groups:
        sides = {side: (key, payload, expired) for side, key, payload, expired in entries}
        counts["keys"] += 1
        if any(expired for _, _, expired in sides.values()):
            continue  # expired on one side: DynamoDB deletes it lazily, it is no difference
        key = (sides.get("S") or sides["T"])[0]
        if "T" not in sides:
            found = [Difference("missing", item_to_wire(key))]
        elif "S" not in sides:
            found = [Difference("extra", item_to_wire(key))]
        elif isinstance(sides["S"][1], bytes):
            found = [Difference("different", item_to_wire(key))] if sides["S"][1] != sides["T"][1] else []
        else:
            found = compare_items(key, sides["S"][1], sides["T"][1], tolerance)
        if found:
            counts[found[0].kind] += 1
            diffs.extend(("diff", d.as_dict(), key) for d in found)
    yield ("count", counts)
    yield from diffs


@dataclass
class ValidationResult:
    source: str
    target: str
    counts: dict[str, int]
    differences: list[dict] = field(default_factory=list)
    fixed: int = 0
    sample: float | None = None
    seconds: float = 0.0

    @property
    def remaining(self) -> int:
        return self.counts["extra"] + max(0, self.counts["missing"] + self.counts["different"] - self.fixed)

    def lines(self, limit: int) -> list[str]:
        c = self.counts
        share = f" (sample {self.sample:.0%})" if self.sample else ""
        out = [
            f"validate {self.source} -> {self.target}: {'EQUAL' if self.remaining == 0 else 'DIFFERENT'}",
            f"  compared   : {c['keys']:,} keys{share} in {self.seconds:,.1f} s",
            f"  missing    : {c['missing']:,} (in the source, not in the target)",
            f"  extra      : {c['extra']:,} (in the target only)",
            f"  different  : {c['different']:,}",
            f"  fixed      : {self.fixed:,}",
        ]
        if self.differences:
            out.append(f"first differences (up to {limit}):")
            out.extend("  " + Difference(**d).line() for d in self.differences)
        return out

    def report(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "counts": self.counts, "fixed": self.fixed,
                "remaining": self.remaining, "sample": self.sample, "seconds": self.seconds,
                "differences": self.differences}


def run_validation(spark: Any, config: MigratorConfig, cores: int, now: float | None = None,
                   metrics: Metrics | None = None, log_every: float = 5.0) -> ValidationResult:
    """Compare the whole source with the whole target (or a sample), fix if asked.

    The driver logs items read (both sides), items/s and ETA every ``log_every`` seconds and hands
    the same figures to ``metrics``.
    """
    settings = config.validation or Validation()
    metrics = metrics or Metrics()
    now = time.time() if now is None else now
    started = time.monotonic()
    source_backend = source_backend_for(config.source)
    described = source_backend.describe(config)
    source, reader = described.info, described.spec
    renames = config.rename_map
    key_names = [renames.get(n, n) for n in source.key_names]
    backend = backend_for(config.target)
    planned = backend.plan(config, source, key_names, resuming=True)
    if planned.plan.action == "create":
        raise SourceError(f"the target {config.target_table!r} does not exist: nothing to validate against")
    spec = planned.spec
    sample = settings.sample_fraction
    tolerance = settings.floating_point_tolerance
    ttl = renames.get(source.ttl_attribute, source.ttl_attribute) if source.ttl_attribute else None
    common = dict(target=spec, key_names=key_names, sample=sample, full=tolerance > 0, ttl_attribute=ttl, now=now)
    source_tasks = [ReadTask("S", reader, part, renames=renames, **common)
                    for part in source_backend.read_partitions(config, described, cores)]
    parts, target_count = backend.read_partitions(config, spec, cores)
    target_tasks = [ReadTask("T", spec, part, renames={}, **common) for part in parts]
    # Interleaved, so that both sides are read at once (two servers busy, not one after the other).
    tasks = [t for pair in itertools.zip_longest(source_tasks, target_tasks) for t in pair if t is not None]
    sides = Sides(reader, renames, spec, key_names)
    sc = spark.sparkContext
    label = f"validate {source.name}"
    group = f"validate-{source.name}"
    driver_host = sc.getConf().get("spark.driver.host", "127.0.0.1")
    server = CountServer(sc.getConf().get("spark.driver.bindAddress", driver_host), driver_host).start()
    tasks = [dataclasses.replace(t, progress=server.address, number=n) for n, t in enumerate(tasks)]
    ticker = _Ticker(label, server, source.item_count + target_count, log_every, metrics, source.name)
    ticker.start()
    try:
        with spark_job(sc, group, f"{label} -> {spec.name}: read both sides ({len(tasks)} partitions), compare "
                       "by key", label):
            rows = (sc.parallelize(tasks, len(tasks)).flatMap(read_side)
                    .groupByKey(max(cores * 2, len(tasks)))
                    .mapPartitions(functools.partial(compare_groups, tolerance)))
            from pyspark import StorageLevel

            rows.persist(StorageLevel.MEMORY_AND_DISK)
            counts = rows.filter(lambda r: r[0] == "count").map(lambda r: r[1]).fold(
                {"keys": 0, "missing": 0, "extra": 0, "different": 0},
                lambda a, b: {k: a[k] + b[k] for k in a})
    finally:
        ticker.stop()
        server.stop()
    with spark_job(sc, group, f"{label}: first {settings.failures_to_fetch} differences", f"{label} differences"):
        first = rows.filter(lambda r: r[0] == "diff").take(settings.failures_to_fetch)
    fixed = 0
    if settings.copy_missing_rows and (counts["missing"] or counts["different"]):
        with spark_job(sc, group, f"{label}: copy missing and different items to {spec.name}", f"{label} fixes"):
            fixable = rows.filter(lambda r: r[0] == "diff" and r[1]["kind"] in ("missing", "different"))
            fixed = sum(fixable.mapPartitions(functools.partial(copy_fixes, sides, config.dead_letter_path)).collect())
    rows.unpersist()
    differences = detail(sides, [r[1] for r in first], [r[2] for r in first], tolerance)
    result = ValidationResult(source.name, spec.describe(), counts, differences[: settings.failures_to_fetch], fixed,
                              sample, time.monotonic() - started)
    metrics.record("validate", "summary", source.name, items_read=server.total(), keys=counts["keys"],
                   missing=counts["missing"], extra=counts["extra"], different=counts["different"], fixed=fixed,
                   seconds=result.seconds)
    return result


class _Ticker(threading.Thread):
    """Logs the validation's progress line and records its metrics every ``every`` seconds."""

    def __init__(self, label: str, server: CountServer, expected: int, every: float, metrics: Metrics, table: str):
        super().__init__(name="validate-progress", daemon=True)
        self.label, self.server, self.expected, self.every = label, server, expected, every
        self.metrics, self.table = metrics, table
        self.started = time.monotonic()
        self.meter = RateMeter(self.started)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            now = time.monotonic()
            read = self.server.total()
            self.meter.add(now, read)
            log.info("%s", progress_line(self.label, read, self.expected, self.meter, "both sides"))
            self.metrics.record("validate", "progress", self.table, items_read=read, items_expected=self.expected,
                                items_per_second=self.meter.rate(), eta_seconds=self.meter.eta_seconds(self.expected),
                                seconds=now - self.started)

    def stop(self) -> None:
        self.stopped.set()
