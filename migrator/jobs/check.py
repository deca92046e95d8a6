"""``migrator check``: whether a configured migration can start, found in seconds and writing nothing.

It runs each side's probes (:mod:`migrator.preflight`: endpoints, credentials and the chain that gave
them, each permission the job needs), then builds the plan (keys, indexes, the stream's state, caps)
and estimates how long the snapshot takes at those caps beside the stream's 24-hour retention. ``run``
does the same before it starts, and stops on a problem.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..config import MigratorConfig
from ..errors import MigratorError
from ..preflight import Finding, location_finding
from ..progress import clock_time
from ..sources import backend_for as source_backend_for
from ..targets import backend_for as target_backend_for

#: How long DynamoDB Streams keeps a change.
RETENTION_SECONDS = 24 * 3600


@dataclass
class CheckReport:
    findings: list[Finding]
    plan: Any = None     # the SnapshotPlan, when the sides could be described

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def lines(self) -> list[str]:
        out = (self.plan.lines() if self.plan is not None else []) + ["checks:"]
        out += [f.line() for f in self.findings]
        warnings = sum(f.warning for f in self.findings)
        tail = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
        if self.problems:
            count = len(self.problems)
            out.append(f"check: {count} problem{'s' if count != 1 else ''}{tail}: the migration cannot start until "
                       "they are fixed")
        else:
            out.append(f"check: passed ({len(self.findings)} checks{tail}): the migration can start")
        return out


def run_check(config: MigratorConfig, cores: int, now: float | None = None, slots: int | None = None) -> CheckReport:
    """Probe both sides, then plan; every problem becomes a finding (nothing raises but a bug). ``slots``: see
    :func:`~migrator.jobs.plan.build_plan`."""
    from .plan import build_plan

    source = source_backend_for(config.source).preflight(config)
    target = target_backend_for(config.target).preflight(config, None)
    findings = source + target + location_findings(config)
    report = CheckReport(findings)
    if report.problems:
        return report
    try:
        report.plan = build_plan(config, cores, now, slots)
    except MigratorError as exc:
        findings.append(Finding(False, "plan", str(exc)))
        return report
    if report.plan.source.ttl_attribute and report.plan.target.action == "create":
        findings[len(source):len(source) + len(target)] = target_backend_for(config.target).preflight(
            config, report.plan.source)  # again, now that the source's TTL is known
    findings.extend(plan_findings(report.plan))
    return report


def location_findings(config: MigratorConfig) -> list[Finding]:
    """The configuration's own folders (savepoints, checkpoint, change log, dead letters) can be written."""
    locations = []
    if config.savepoints is not None:
        locations.append(("savepoints.path", config.savepoints.path))
    if config.target.stream_changes and config.streaming.checkpoint_location:
        locations.append(("streaming.checkpointLocation", config.streaming.checkpoint_location))
    if config.streaming.change_log_path and config.target.stream_changes:
        locations.append(("streaming.changeLogPath", config.streaming.change_log_path))
    if config.dead_letter is not None:
        locations.append(("deadLetter.path", config.dead_letter.path))
    return [location_finding("storage", setting, path) for setting, path in locations]


def plan_findings(plan: Any) -> list[Finding]:
    """The plan's own problems (keys, stream view type, cores), and the snapshot's duration at its caps."""
    findings = [Finding(False, "plan", problem) for problem in plan.problems]
    if plan.copies_snapshot:
        findings.append(estimate_finding(plan))
    return findings


def snapshot_seconds(items: int, size_bytes: int, read_cap: float | None, write_cap: float | None) -> float | None:
    """How long a snapshot takes at its caps (RCU/s, WCU/s): the slower of reading (an eventually
    consistent Scan costs half a unit per 4 KiB) and writing (a put costs a unit per started KiB);
    None when neither side is capped."""
    spans = []
    if read_cap:
        spans.append(0.5 * size_bytes / 4096 / read_cap)
    if write_cap and items:
        spans.append(items * math.ceil(size_bytes / items / 1024) / write_cap)
    return max(spans) if spans else None


def estimate_finding(plan: Any) -> Finding:
    src = plan.source
    left = len(plan.segments) / max(1, plan.total_segments)
    items, size = int(src.item_count * left), int(src.size_bytes * left)
    what = f"~{items:,} items, {size / 2 ** 20:,.1f} MiB to copy"
    if getattr(plan.config.source, "export_snapshot", None) is not None:  # a DynamoDB source's setting
        return Finding(True, "snapshot", f"{what} from an export; an export takes minutes to hours, and the change "
                       "log captures the stream meanwhile" if plan.captures else f"{what} from an export")
    seconds = snapshot_seconds(items, size, plan.read_cap.total, plan.write_cap.total)
    if seconds is None:
        return Finding(True, "snapshot", f"{what}; no read or write cap, so its duration is set by the cores and "
                       "what the target absorbs")
    caps = [f"{name} {cap.total:g} {unit}/s" for name, cap, unit in
            (("read", plan.read_cap, "RCU"), ("write", plan.write_cap, "WCU")) if cap.total]
    text = f"{what}; at the caps ({', '.join(caps)}) about {clock_time(seconds)}"
    streams = plan.config.target.stream_changes
    if not streams or seconds < RETENTION_SECONDS:
        return Finding(True, "snapshot", text + (", within the stream's 24-hour retention" if streams else ""))
    if plan.captures:
        return Finding(True, "snapshot", text + ": longer than the stream's 24-hour retention; the change log "
                       "captures the stream meanwhile, so no change is lost")
    return Finding(False, "snapshot", text + ": longer than the stream's 24-hour retention, so changes made early "
                   "would be gone before replication starts; keep streaming.changeLog: true (the default), or raise "
                   "the caps (source.throughputReadPercent, target.throughputWritePercent)")
