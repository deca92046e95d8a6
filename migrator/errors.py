"""The exceptions migrator raises on purpose.

Each one keeps the facts it reports as attributes, so callers and tests need not parse the
message. The CLI maps them to exit codes.
"""

from __future__ import annotations

import re

_REMOTE = re.compile(r"migrator\.errors\.(\w+): (.+)")


class MigratorError(Exception):
    """Base of every error migrator raises on purpose."""


class ConfigError(MigratorError):
    """The configuration file is unreadable or invalid.

    Parameters
    ----------
    problems : list of str
        Every problem found, each naming the setting, the value and the rule.
    path : str, optional
        The file the configuration came from.
    """

    def __init__(self, problems: list[str], path: str | None = None):
        self.problems = list(problems)
        self.path = path
        where = f"configuration {path}" if path else "configuration"
        if len(self.problems) == 1:
            text = f"{where}: {self.problems[0]}"
        else:
            listed = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{where} has {len(self.problems)} problems:\n{listed}"
        super().__init__(text)


class SourceError(MigratorError):
    """The source table cannot be read as the job needs (missing, wrong stream, ...)."""

    def __init__(self, message: str, table: str | None = None):
        self.table = table
        super().__init__(message)


class StreamTrimmedError(SourceError):
    """Changes the migration needs are no longer in the stream (24-hour retention, replaced stream):
    they are lost to it, and only a new snapshot can recover."""


class TargetError(MigratorError):
    """The target cannot be prepared or written (incompatible schema, persistent write error)."""

    def __init__(self, message: str, table: str | None = None, key: dict | None = None):
        self.table = table
        self.key = key
        super().__init__(message)


class ConversionError(MigratorError):
    """An item cannot be represented in the target (too large, invalid value)."""

    def __init__(self, message: str, key: dict | None = None):
        self.key = key
        super().__init__(message)


class SavepointError(MigratorError):
    """A savepoint exists but does not fit this run (other table, other segment count)."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(message)


def task_error(text: str) -> str | None:
    """:func:`remote_error` as one line that says where it happened: ``"Name: message (in a Spark task)"``."""
    found = remote_error(text)
    return f"{found} (in a Spark task)" if found else None


def remote_error(text: str) -> str | None:
    """The migrator error inside a failure reported by Spark (a task's or a streaming query's
    Python traceback, as text), as ``"Name: message"``; None when there is none."""
    found = _REMOTE.findall(text or "")
    if not found:
        return None
    name, message = found[-1]
    return f"{name}: {message}"
