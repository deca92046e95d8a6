"""What every target backend offers the jobs: plan, prepare, write, read back, fetch by key.

A backend has two halves. The driver half (:class:`TargetBackend`, one per folder under ``targets/``)
describes the target, decides what to create, prepares it and says how writes are capped. The
executor half (its :class:`TargetSpec`, a picklable value the plan hands to tasks) writes items and
reads them back for the validator; clients are built inside it, where it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Protocol

from ..tables import TableInfo
from ..throttle import ThroughputCap


class TargetPlanLike(Protocol):
    """What the job will do to the target before copying: ``action`` is ``create`` when it is missing."""

    action: str
    problems: list[str]

    def lines(self) -> list[str]: ...


class TargetSpec(Protocol):
    """How executors reach and write the target; picklable, holds no client."""

    @property
    def name(self) -> str: ...

    def describe(self) -> str: ...

    #: Whether :meth:`fetch` works (an export cannot be read by key: the validator names no attribute then).
    fetches_by_key: bool

    def writer(self, dead_letter: Any, dedupe: bool = False, limiter: Any = None, snapshot: bool = False,
               partition: int = 0) -> Any:
        """A writer of puts and deletes by key (``put``, ``delete``, ``mark``, ``committed``, ``flush``,
        ``close``, ``stats``), for the snapshot's partition ``partition`` or a stream batch."""

    def stored(self, item: dict) -> dict:
        """``item`` (DynamoDB JSON, target names) as the target holds it and reads it back."""

    def read(self, partition: Any) -> Iterator[dict]:
        """Every item of one read partition (see :meth:`TargetBackend.read_partitions`), as DynamoDB JSON."""

    def fetch(self, keys: list[dict]) -> list[dict]:
        """The items stored under ``keys`` (DynamoDB JSON, target names); missing keys are left out."""


@dataclass
class PlannedTarget:
    """A target described and decided on: ``plan`` for the driver, ``spec`` for the tasks."""

    plan: Any                        # TargetPlanLike
    spec: Any                        # TargetSpec
    provisioned_wcu: int | None = None


class TargetBackend(Protocol):
    """The driver half of a target backend."""

    def plan(self, config: Any, source: TableInfo, key_names: list[str], resuming: bool,
             now: float | None = None) -> PlannedTarget:
        """Describe the target and decide what to do with it; changes nothing."""

    def permissions(self, config: Any) -> list[Any]:
        """The IAM permissions (:class:`~migrator.permissions.Permission`) the job needs of the target."""

    def preflight(self, config: Any, source: TableInfo | None) -> list[Any]:
        """Harmless probes of the target for ``migrator check`` (:class:`~migrator.preflight.Finding`);
        ``source`` is the source described, None when it could not be."""

    def prepare(self, config: Any, planned: PlannedTarget) -> None:
        """Create (or drop, rename) the target as planned, with its indexes and TTL."""

    def write_cap(self, config: Any, planned: PlannedTarget, tasks: int) -> ThroughputCap:
        """The write rate of the whole job and of each of its ``tasks``."""

    def writes_line(self, config: Any) -> str:
        """How items are written, for the plan."""

    def read_partitions(self, config: Any, spec: Any, cores: int) -> tuple[list[Any], int]:
        """The target's read partitions for the validator, and its item count estimate."""

    def finish(self, config: Any, planned: PlannedTarget, savepoint: Any) -> None:
        """After the last partition of the snapshot is written (an export writes its manifests)."""
