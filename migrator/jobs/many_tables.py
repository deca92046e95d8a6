"""A migration of many tables (``tables``): every selected table planned, copied and replicated as if it had a
configuration of its own, several at once in one Spark application.

- **Selection.** The source's tables are listed once and matched against ``include`` less ``exclude``
  (:func:`~migrator.config_tables.select`); a named table that does not exist is reported as failed.
- **Each table on its own.** A table runs its own configuration (:meth:`MigratorConfig.for_table`): its own
  savepoint, stream pin, change log, checkpoint, dead-letter folder and metric label, and the same checks
  before it starts. A table that fails (missing, an incompatible target, a trimmed stream, a failed job)
  is reported with its error; the others go on. A rerun resumes each table where it stopped.
- **Cores.** Snapshot tasks run for a segment's whole copy, so they are never queued behind one another:
  the snapshots of ``at_once`` tables run together, each with an equal share of the cores, and when a
  table streams, one core is left to the stream reads of every table (its capture during its snapshot,
  its replication after). A table waits for a free share before it pins its stream, so a long wait
  does not use up the stream's retention.
- **Replication.** One streaming query per table, each on its own checkpoint: a table whose stream fails
  (trimmed, deleted) stops alone, and its rerun resumes it alone. The cost is one Spark job per table and
  trigger on the driver; with many tables, raise ``streaming.triggerSeconds`` (docs/many-tables.md).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..config import MigratorConfig
from ..config_tables import select
from ..errors import MigratorError, task_error
from ..metrics import Metrics
from ..sources import backend_for as source_backend_for

log = logging.getLogger(__name__)

#: Tables planned (described, checked) at once.
PLANNERS = 8

PLANNED, FAILED, COPYING, REPLICATING, DONE, INTERRUPTED = (
    "planned", "FAILED", "copying", "replicating", "done", "interrupted")


@dataclass
class TableRun:
    """One table of the migration: its configuration, plan, state and what it did."""

    source: str
    target: str
    plan: Any = None
    state: str = PLANNED
    error: str = ""
    check: Any = None            # its CheckReport (None with --no-check)
    replication: Any = None      # StreamingResult

    def fail(self, message: str) -> None:
        self.state, self.error = FAILED, message

    def line(self) -> str:
        """``orders -> orders_v2: done; 5,000 items copied; replication: 120 puts, 10 deletes (idle for 6 s)``."""
        head = f"  {self.source} -> {self.target}: {self.state}"
        if self.state == FAILED:
            return f"{head}: {self.error}"
        parts = []
        if self.plan is not None and self.plan.config.schema_only:
            parts.append("schema only: " + ("created" if self.plan.target.action == "create" else "already there"))
        elif self.plan is not None and self.plan.copies_snapshot and self.state != PLANNED:
            segments = self.plan.savepoint.segments.values()
            done = sum(1 for s in segments if s.done)
            parts.append(f"snapshot {sum(s.items for s in segments):,} items, {done}/{self.plan.total_segments} "
                         "segments")
        if self.replication is not None:
            t = self.replication.totals
            parts.append(f"replication {t.puts:,} puts, {t.deletes:,} deletes ({self.replication.stopped_by})")
        if self.error:
            parts.append(self.error)
        return f"{head}; {'; '.join(parts)}" if parts else head


def concurrency(cores: int, wanted: int, tables: int, streams: bool) -> tuple[int, int]:
    """``(tables at once, snapshot tasks of each)``: every table copying gets an equal share of the cores,
    less one for stream reads when a table streams (at least one task each)."""
    free = max(1, cores - 1) if streams and cores > 1 else cores
    at_once = max(1, min(wanted, free, tables))
    return at_once, max(1, free // at_once)


class Slots:
    """At most ``count`` tables copy their snapshot at once; a table waits for a slot, or for ``stop``."""

    def __init__(self, count: int, stop: threading.Event):
        self._free = threading.BoundedSemaphore(count)
        self.stop = stop

    @contextlib.contextmanager
    def hold(self, run: TableRun) -> Iterator[None]:
        while not self._free.acquire(timeout=0.5):
            if self.stop.is_set():
                raise _Stopped()
        if self.stop.is_set():
            self._free.release()
            raise _Stopped()
        run.state = COPYING
        try:
            yield
        finally:
            if run.state == COPYING:
                run.state = REPLICATING if run.plan.config.target.stream_changes else DONE
            self._free.release()


class _Stopped(Exception):
    """A signal came before the table's turn."""


class ManyTables:
    """The tables of one configuration: :meth:`plan` them, :meth:`run` them, print :meth:`summary`.

    Parameters
    ----------
    config : MigratorConfig
        A configuration with ``tables``.
    cores : int
        The Spark application's cores, shared out between the tables (:func:`concurrency`).
    checks : bool
        Run each table's checks of ``migrator check`` (as ``run`` does unless ``--no-check``).
    """

    def __init__(self, config: MigratorConfig, cores: int, checks: bool = True, now: float | None = None):
        self.config, self.cores, self.checks, self.now = config, cores, checks, now
        self.tables: list[TableRun] = []
        self.at_once = self.slots = 1

    # -- planning ---------------------------------------------------------------------------------
    def select(self) -> None:
        """List the source's tables and keep the selected ones (missing named tables as failed)."""
        listed = source_backend_for(self.config.source).list_tables(self.config)
        chosen = select(self.config.tables, listed)
        if chosen.problems:
            raise MigratorError("the tables section does not fit the source's tables:\n"
                                + "\n".join(f"  - {p}" for p in chosen.problems))
        self.tables = [TableRun(s, t) for s, t in chosen.pairs]
        for name in chosen.missing:
            run = TableRun(name, self.config.tables.target_name(name))
            run.fail(f"source table {name!r} not found (listed in tables.include); check the name, or remove it")
            self.tables.append(run)
        if not chosen.pairs:
            log.warning("tables: no source table matches %s", ", ".join(self.config.tables.include))

    def plan(self) -> None:
        """Select the tables, then configure, check and plan each (several at once); problems mark it failed."""
        self.select()
        pending = [run for run in self.tables if run.state != FAILED]
        configs = {}
        for run in pending:
            try:
                configs[run.source] = self.config.for_table(run.source, run.target)
            except MigratorError as exc:
                run.fail(str(exc))
        streams = any(c.target.stream_changes and not c.schema_only for c in configs.values())
        self.at_once, self.slots = concurrency(self.cores, self.config.tables.concurrency, len(configs), streams)
        with ThreadPoolExecutor(PLANNERS) as pool:
            list(pool.map(lambda run: self._plan_one(run, configs[run.source]),
                          [run for run in pending if run.source in configs]))

    def _plan_one(self, run: TableRun, config: MigratorConfig) -> None:
        from .check import run_check
        from .plan import build_plan

        try:
            if not self.checks:
                run.plan = build_plan(config, self.cores, self.now, self.slots)
            else:
                report = run.check = run_check(config, self.cores, self.now, self.slots)
                run.plan = report.plan
                if report.problems:
                    run.fail("; ".join(f"{f.subject}: {f.text}" for f in report.problems))
                    return
            if run.plan.problems:
                run.fail("; ".join(run.plan.problems))
        except MigratorError as exc:
            run.fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - botocore's errors of a plan without checks: that table's own
            run.fail(f"{type(exc).__name__}: {exc}")

    def plan_lines(self, every_check: bool = False) -> list[str]:
        """Each table's plan (and its checks' warnings and verdict, or ``every_check``), or why it failed."""
        out = [f"tables: {len(self.tables)} selected by tables.include/exclude; snapshots of {self.at_once} "
               f"at once, {self.slots} task{'s' if self.slots != 1 else ''} each"]
        for run in self.tables:
            report = run.check
            if report is not None and (every_check or report.problems):
                out += report.lines()
            elif report is not None:
                out += report.plan.lines() + [f.line() for f in report.findings if f.warning] + report.lines()[-1:]
            elif run.plan is not None:
                out += run.plan.lines()
            if run.state == FAILED:
                out.append(f"{run.source} -> {run.target}: FAILED: {run.error}")
        return out

    def check_lines(self) -> list[str]:
        """What ``migrator check`` prints: every table's checks, then the verdict of all."""
        failed = len(self.failed)
        verdict = ": those cannot start until they are fixed" if failed else ": the migration can start"
        return self.plan_lines(every_check=True) + [f"check: {len(self.tables)} tables, {failed} with problems{verdict}"]

    @property
    def failed(self) -> list[TableRun]:
        return [run for run in self.tables if run.state == FAILED]

    # -- running ----------------------------------------------------------------------------------
    def run(self, spark: Any, stop: threading.Event, stop_when_idle: float | None, emit: Callable[[list[str]], None],
            log_every: float = 5.0, metrics: Metrics | None = None) -> None:
        """Run every planned table (``at_once`` snapshots at a time) until each is done, failed or stopped.

        ``stop`` (a signal) stops replication after the batch in flight and cancels the snapshots being copied;
        their savepoints are written on the way out.
        """
        from pyspark import InheritableThread

        metrics = metrics or Metrics()
        lock = threading.Lock()

        def locked_emit(lines: list[str]) -> None:
            with lock:
                emit(lines)

        slots = Slots(self.at_once, stop)
        runnable = [run for run in self.tables if run.state != FAILED]
        threads = [InheritableThread(target=self._run_one, args=(run, spark, slots, stop, stop_when_idle, locked_emit,
                                                                 log_every, metrics), name=f"table {run.source}")
                   for run in runnable]
        for thread in threads:
            thread.start()
        while True:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(0.5)
            if stop.is_set():
                # Again and again: a table may start a snapshot job between two looks.
                for run in runnable:
                    if run.state == COPYING:
                        spark.sparkContext.cancelJobGroup(f"snapshot-{run.source}")

    def _run_one(self, run: TableRun, spark: Any, slots: Slots, stop: threading.Event,
                 stop_when_idle: float | None, emit: Callable[[list[str]], None], log_every: float,
                 metrics: Metrics) -> None:
        from .migration import run_migration

        try:
            if run.plan.config.schema_only:
                run.plan.prepare_target()
                run.state = DONE
                emit(run.plan.schema_lines())
                return
            run.replication = run_migration(spark, run.plan, stop, stop_when_idle, emit, log_every=log_every,
                                            metrics=metrics, slot=slots.hold(run))
            # Without a replication result, a streaming table was stopped before it replicated.
            stopped = run.replication is None and run.plan.config.target.stream_changes
            run.state = INTERRUPTED if stopped else DONE
        except _Stopped:
            run.state, run.error = INTERRUPTED, "stopped before its turn"
        except MigratorError as exc:
            self._failed(run, str(exc), stop)
        except Exception as exc:  # noqa: BLE001 - a failed Spark job: its migrator error, else its first line
            self._failed(run, _job_error(exc), stop)

    @staticmethod
    def _failed(run: TableRun, message: str, stop: threading.Event) -> None:
        if stop.is_set():
            run.state = INTERRUPTED
            run.error = "progress saved; rerun to resume" if run.plan.store is not None else ""
            return
        run.fail(message)
        log.error("table %s failed: %s", run.source, message)

    # -- the end ----------------------------------------------------------------------------------
    def validate(self, spark: Any, metrics: Metrics, log_every: float) -> list[tuple[TableRun, Any]]:
        """Validate every selected table in turn (each uses every core); ``(table, ValidationResult or None)``."""
        from .validate import run_validation

        self.select()
        results = []
        for run in self.tables:
            if run.state != FAILED:
                try:
                    config = self.config.for_table(run.source, run.target)
                    results.append((run, run_validation(spark, config, self.cores, metrics=metrics,
                                                        log_every=log_every)))
                    run.state = DONE
                    continue
                except MigratorError as exc:
                    run.fail(str(exc))
                except Exception as exc:  # noqa: BLE001 - a failed Spark job: its migrator error, else its first line
                    run.fail(_job_error(exc))
            results.append((run, None))
        return results

    def summary(self) -> list[str]:
        done = sum(run.state == DONE for run in self.tables)
        head = f"tables: {len(self.tables)} selected, {done} done, {len(self.failed)} failed"
        interrupted = sum(run.state == INTERRUPTED for run in self.tables)
        if interrupted:
            head += f", {interrupted} interrupted"
        return [head] + [run.line() for run in self.tables]


def _job_error(exc: BaseException) -> str:
    """One line for a failed Spark job: the migrator error inside it, else its first line."""
    return task_error(str(exc)) or (str(exc).strip().splitlines() or [repr(exc)])[0]


def validation_report(results: list[tuple[TableRun, Any]], limit: int) -> tuple[list[str], dict]:
    """What ``migrator validate`` prints of many tables (each table's result, then a verdict per table), and
    its one report: ``{"tables": [...], "equal": n, "different": n, "failed": n}``."""
    lines, tables = [], []
    for run, result in results:
        if result is None:
            lines.append(f"validate {run.source} -> {run.target}: FAILED: {run.error}")
            tables.append({"source": run.source, "target": run.target, "verdict": "FAILED", "error": run.error})
        else:
            lines += result.lines(limit)
            verdict = "EQUAL" if result.remaining == 0 else "DIFFERENT"
            tables.append({"verdict": verdict, **result.report(), "source": run.source, "target": run.target})
    counts = {v: sum(t["verdict"] == v for t in tables) for v in ("EQUAL", "DIFFERENT", "FAILED")}
    lines.append(f"validate: {len(tables)} tables: {counts['EQUAL']} EQUAL, {counts['DIFFERENT']} DIFFERENT, "
                 f"{counts['FAILED']} failed")
    lines += [f"  {t['source']} -> {t['target']}: {t['verdict']}" for t in tables]
    return lines, {"tables": tables, **{k.lower(): v for k, v in counts.items()}}
