"""Command line: ``migrator run --config FILE [--dry-run] [--no-check] [--stop-when-idle SECONDS]``,
``migrator check --config FILE``, ``migrator policy --config FILE`` and
``migrator validate --config FILE [--report PATH]``.

Exit codes: 0 done (or idle long enough; for validate: equal; for check: the migration can start);
1 validate found differences that remain, or check found problems; 2 configuration, source, target,
stream or savepoint error, or a problem the check before a run found (the message says what to
change), or, with ``tables``, any table that failed (the others ran; the summary names each);
130 interrupted (Ctrl-C); 143 stopped by SIGTERM. The snapshot's progress is saved before
exiting on an error or a signal; replication stops after the batch in flight.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
from typing import Any, Sequence

from . import __version__
from .config import MigratorConfig, load_config
from .errors import MigratorError, task_error
from .extras import require_extras
from .settings_help import setting_lines

log = logging.getLogger("migrator")

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
DEFAULT_MASTER = "local[*,4]"


class Terminated(BaseException):
    """SIGTERM arrived; raised in the main thread so that savepoints are written on the way out."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m migrator``, the ``migrator`` script and ``spark-submit``."""
    args = _parser().parse_args(argv)
    _setup_logging(args.log_level)
    try:
        config = load_config(args.config)
        require_extras(config)
    except MigratorError as exc:
        _fail(str(exc))
        return EXIT_ERROR
    _warn_ignored(config)
    signals = _Signals()
    signal.signal(signal.SIGTERM, signals.handle)
    signal.signal(signal.SIGINT, signals.handle)
    try:
        return _run(args, config, signals)
    except MigratorError as exc:
        _fail(str(exc))
        return EXIT_ERROR
    except Terminated:
        log.warning("stopped by SIGTERM")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        log.warning("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        message = task_error(str(exc))
        if message is None:
            raise
        _fail(message)
        return EXIT_ERROR


class _Signals:
    """SIGTERM and Ctrl-C: during the snapshot they abort it (the savepoint is written on the way
    out); during replication they stop it after the batch in flight."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.graceful = threading.Event()
        self.received: int | None = None

    def handle(self, signum: int, frame: Any) -> None:
        self.received = signum
        if self.graceful.is_set():
            log.warning("stopping after the batch in flight (%s)", signal.Signals(signum).name)
            self.stop.set()
        elif signum == signal.SIGTERM:
            raise Terminated()
        else:
            raise KeyboardInterrupt()

    def exit_code(self) -> int:
        if self.received == signal.SIGTERM:
            return EXIT_TERMINATED
        return EXIT_INTERRUPTED if self.received is not None else EXIT_OK


def _run(args: argparse.Namespace, config: MigratorConfig, signals: _Signals) -> int:
    if args.command == "validate":
        return _validate(args, config)
    if args.command == "check":
        return _check(args, config)
    if args.command == "policy":
        return _policy(args, config)
    if args.schema_only and not config.schema_only:
        config = config.with_schema_only()
    if config.tables is not None:
        return _run_many(args, config, signals)
    spark, cores = _spark_first(args, f"migrator {config.source.table}")
    plan = _checked_plan(args, config, cores)
    if args.dry_run:
        _emit(["dry run: nothing was written"])
        return EXIT_ERROR if plan.problems else EXIT_OK
    if plan.target.problems:
        raise MigratorError("the target table is incompatible: " + "; ".join(plan.target.problems))
    if config.schema_only:
        plan.prepare_target()
        _emit(plan.schema_lines())
        return EXIT_OK
    if plan.stream_problem:
        raise MigratorError(plan.stream_problem)
    from .jobs.migration import run_migration

    if spark is None:
        spark = build_spark(args.master, f"migrator {config.source.table}")
    stop_when_idle = args.stop_when_idle if args.stop_when_idle is not None else config.streaming.stop_when_idle_seconds
    # On an error or a signal during the snapshot the exception propagates without spark.stop():
    # a py4j call cut short by a signal leaves the gateway unusable, and the embedded JVM exits
    # with this process anyway.
    metrics = _metrics(args, config)
    try:
        run_migration(spark, plan, signals.stop, stop_when_idle, _emit, log_every=_interval(args, config),
                      streaming=signals.graceful, metrics=metrics)
    finally:
        metrics.close()
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        spark.stop()
    return signals.exit_code()


def _spark_first(args: argparse.Namespace, name: str) -> tuple[Any, int]:
    """The session now, when the cores can only be known from it (spark-submit, a cluster master), with its
    cores; else no session yet (it starts once the plan is printed) and the local master's cores."""
    if "PYSPARK_GATEWAY_PORT" in os.environ or not _local_cores(args.master):
        spark = build_spark(args.master, name)
        return spark, spark.sparkContext.defaultParallelism
    return None, _local_cores(args.master)


def _run_many(args: argparse.Namespace, config: MigratorConfig, signals: _Signals) -> int:
    """Every table of ``tables``: planned and checked, then run several at once; a summary of each at the end."""
    from .jobs.many_tables import ManyTables

    spark, cores = _spark_first(args, "migrator: many tables")
    many = ManyTables(config, cores, checks=not args.no_check)
    many.plan()
    _emit(many.plan_lines(every_check=args.dry_run))
    if args.dry_run:
        _emit(["dry run: nothing was written"] + many.summary())
        return EXIT_ERROR if many.failed else EXIT_OK
    if spark is None and not config.schema_only:
        spark = build_spark(args.master, "migrator: many tables")
    # From here a signal stops every table gracefully: replication after the batch in flight, snapshots
    # cancelled with their savepoints written (ManyTables.run watches signals.stop).
    signals.graceful.set()
    stop_when_idle = args.stop_when_idle if args.stop_when_idle is not None else config.streaming.stop_when_idle_seconds
    metrics = _metrics(args, config)
    try:
        many.run(spark, signals.stop, stop_when_idle, _emit, log_every=_interval(args, config), metrics=metrics)
    finally:
        metrics.close()
    _emit(many.summary())
    if spark is not None and "PYSPARK_GATEWAY_PORT" not in os.environ:
        spark.stop()
    code = signals.exit_code()
    return code if code != EXIT_OK else EXIT_ERROR if many.failed else EXIT_OK


def _checked_plan(args: argparse.Namespace, config: MigratorConfig, cores: int) -> Any:
    """The plan, after the checks of ``migrator check`` (unless ``--no-check``); printed."""
    from .jobs.check import run_check
    from .jobs.plan import build_plan

    if args.no_check:
        plan = build_plan(config, cores)
        _emit(plan.lines())
        return plan
    report = run_check(config, cores)
    if args.dry_run or report.problems:
        _emit(report.lines())
    else:
        _emit(report.plan.lines() + [f.line() for f in report.findings if f.warning] + report.lines()[-1:])
    # The plan's own problems (keys, stream view type) stop the run below, as without the check.
    problems = [f"{f.subject}: {f.text}" for f in report.problems if f.subject != "plan" or report.plan is None]
    if len(problems) == 1:
        raise MigratorError(f"{problems[0]} (found by the check before the run; --no-check skips it)")
    if problems:
        raise MigratorError(f"the check before the run found {len(problems)} problems (--no-check skips it):\n"
                            + "\n".join(f"  - {p}" for p in problems))
    return report.plan


def _check(args: argparse.Namespace, config: MigratorConfig) -> int:
    from .jobs.check import run_check

    cores = _local_cores(args.master) or os.cpu_count() or 2
    if config.tables is not None:
        from .jobs.many_tables import ManyTables

        many = ManyTables(config, cores)
        many.plan()
        _emit(many.check_lines())
        return EXIT_DIFFERENT if many.failed else EXIT_OK
    report = run_check(config, cores)
    _emit(report.lines())
    return EXIT_DIFFERENT if report.problems else EXIT_OK


def _policy(args: argparse.Namespace, config: MigratorConfig) -> int:
    from .permissions import policy, required, table

    needed = required(config, args.side)
    if args.explain:
        _emit(table(needed))
    else:
        _emit([json.dumps(policy(needed), indent=2)])
    return EXIT_OK


def _validate(args: argparse.Namespace, config: MigratorConfig) -> int:
    from .jobs.validate import run_validation

    metrics = _metrics(args, config)
    name = "many tables" if config.tables is not None else config.source.table
    spark = build_spark(args.master, f"migrator validate {name}")
    cores = spark.sparkContext.defaultParallelism
    limit = config.validation.failures_to_fetch if config.validation else 100
    try:
        if config.tables is not None:
            code, report = _validate_many(spark, config, cores, metrics, _interval(args, config), limit)
        else:
            result = run_validation(spark, config, cores, metrics=metrics, log_every=_interval(args, config))
            _emit(result.lines(limit))
            code, report = (EXIT_OK if result.remaining == 0 else EXIT_DIFFERENT), result.report()
    finally:
        metrics.close()
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        spark.stop()
    _write_report(args.report or (config.validation.report_path if config.validation else None), report)
    return code


def _validate_many(spark: Any, config: MigratorConfig, cores: int, metrics: Any, log_every: float,
                   limit: int) -> tuple[int, dict]:
    """Each table validated in turn; one verdict per table, one report, the worst exit code."""
    from .jobs.many_tables import ManyTables, validation_report

    lines, report = validation_report(ManyTables(config, cores).validate(spark, metrics, log_every), limit)
    _emit(lines)
    return (EXIT_ERROR if report["failed"] else EXIT_DIFFERENT if report["different"] else EXIT_OK), report


def _write_report(path: str | None, report: dict) -> None:
    from .storage import write_text

    if not path:
        return
    try:
        write_text(path, json.dumps(report, indent=1, sort_keys=True, default=str))
    except OSError as exc:
        raise MigratorError(f"validation.reportPath: cannot write {path}: {exc.strerror or exc}") from exc
    _emit([f"report: {path}"])


def _metrics(args: argparse.Namespace, config: MigratorConfig) -> Any:
    from .metrics import Metrics

    path = args.metrics_file or config.metrics.path
    port = args.metrics_port if args.metrics_port is not None else config.metrics.prometheus_port
    try:
        return Metrics(path, port)
    except OSError as exc:
        if exc.filename:  # the file could not be opened
            raise MigratorError(f"metrics.path: cannot append to {path}: {exc.strerror}") from exc
        raise MigratorError(str(exc)) from exc


def _interval(args: argparse.Namespace, config: MigratorConfig) -> float:
    """Seconds between progress lines and metric records: the flag, else ``metrics.intervalSeconds``."""
    return args.progress_seconds if args.progress_seconds is not None else config.metrics.interval_seconds


def build_spark(master: str | None, app_name: str) -> Any:
    """The SparkSession: the one spark-submit configured, or an embedded local one."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    if "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Embedded: executors must run this same interpreter, which has migrator importable.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        log4j = os.path.join(os.path.dirname(os.path.abspath(__file__)), "log4j2.properties")
        builder = (builder.appName(app_name).master(master or DEFAULT_MASTER)
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}"))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("MIGRATOR_SPARK_LOG_LEVEL", "WARN"))
    return spark


def _local_cores(master: str | None) -> int | None:
    match = re.fullmatch(r"local(?:\[(\*|\d+)(?:,\d+)?\])?", master or DEFAULT_MASTER)
    if not match:
        return None
    count = match.group(1)
    return (os.cpu_count() or 1) if count in (None, "*") else int(count)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="migrator", description="Move a live DynamoDB table to DynamoDB, Alternator, MongoDB or an export, on "
        "Spark: a snapshot, then every change of its stream. Start with `migrator check --config FILE`."
    )
    parser.add_argument("--version", action="version", version=f"migrator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="copy the source table to the target (resumable)",
                              epilog="\n".join(setting_lines()), formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("--config", required=True, help="YAML configuration file")
    run.add_argument("--dry-run", action="store_true", help="print the plan and exit without writing")
    run.add_argument("--master", default=None,
                     help=f"Spark master when not launched by spark-submit (default {DEFAULT_MASTER})")
    run.add_argument("--stop-when-idle", type=float, default=None, metavar="SECONDS",
                     help="with streamChanges: exit 0 once caught up and without changes for this long "
                          "(overrides streaming.stopWhenIdleSeconds)")
    run.add_argument("--no-check", action="store_true",
                     help="start without the checks of `migrator check` (endpoints, credentials, permissions)")
    run.add_argument("--schema-only", action="store_true",
                     help="create the target tables or collections (keys, indexes, TTL) and copy nothing "
                          "(schemaOnly: true)")
    _common_options(run)
    check = commands.add_parser("check", help="check that the migration can start: endpoints, credentials, "
                                "permissions, stream, the snapshot's duration; writes nothing (exit 0: it can, 1: not)")
    check.add_argument("--config", required=True, help="YAML configuration file")
    check.add_argument("--master", default=None, help="the Spark master the run will use, for its core count")
    check.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    policy = commands.add_parser("policy", help="print the IAM policy the configured job needs (JSON)")
    policy.add_argument("--config", required=True, help="YAML configuration file")
    policy.add_argument("--explain", action="store_true", help="one line per permission: action, resource, why")
    policy.add_argument("--side", choices=["source", "target", "storage"], default=None,
                        help="only what one side's credentials need (when source and target are other accounts)")
    policy.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    validate = commands.add_parser("validate", help="compare source and target in both directions")
    validate.add_argument("--config", required=True, help="YAML configuration file")
    validate.add_argument("--report", default=None, metavar="PATH",
                          help="write a JSON report here (overrides validation.reportPath)")
    validate.add_argument("--master", default=None,
                          help=f"Spark master when not launched by spark-submit (default {DEFAULT_MASTER})")
    _common_options(validate)
    return parser


def _common_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--progress-seconds", type=float, default=None, metavar="SECONDS",
                         help="seconds between progress lines and metric records (default: metrics.intervalSeconds, 5)")
    command.add_argument("--metrics-file", default=None, metavar="PATH",
                         help="append JSON-lines metrics to this local file (overrides metrics.path)")
    command.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                         help="serve Prometheus metrics at http://<driver>:PORT/metrics (overrides "
                              "metrics.prometheusPort)")
    command.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("migrator").setLevel(level)


def _warn_ignored(config: MigratorConfig) -> None:
    for name in ("source", "target"):
        section = getattr(config, name)
        without = section.settings_without_effect() if hasattr(section, "settings_without_effect") else []
        if without:
            log.warning("%s: %s tune Scylla Migrator's own Alternator client and have no effect here (see %s)",
                        name, ", ".join(without), "docs/config-reference.md")
    if getattr(config.target, "max_map_tasks", None):
        log.warning("target.maxMapTasks has no effect: the task that scans a segment writes it (source.maxMapTasks "
                    "sets how many run at once)")
    if config.skip_token_ranges:
        log.warning("skipTokenRanges applies to Cassandra sources and is ignored for DynamoDB")
    if config.target.skip_initial_snapshot_transfer and not config.target.stream_changes:
        log.warning("target.skipInitialSnapshotTransfer is ignored because target.streamChanges is false")


def _emit(lines: list[str]) -> None:
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


def _fail(message: str) -> None:
    sys.stderr.write(f"migrator: error: {message}\n")
    sys.stderr.flush()
