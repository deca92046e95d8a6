"""Backoff, retries and rate limits: pure policy, with the clock, sleep and RNG passed in.

Nothing here calls ``time`` or ``random`` directly, so tests drive every branch with a fake clock.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable, TypeVar

T = TypeVar("T")

#: When a cap comes from the source table's own provisioned capacity, leave room for the live
#: application: Scylla Migrator (and the EMR DynamoDB connector) use half by default.
DEFAULT_READ_PERCENT = 0.5
#: The target table is ours during the migration.
DEFAULT_WRITE_PERCENT = 1.0


class Backoff:
    """Exponential backoff with "equal jitter": half the delay fixed, half random.

    Parameters
    ----------
    base : float
        Delay of the first retry, in seconds (before jitter).
    cap : float
        Upper bound of any delay.
    rng : random.Random
        Source of jitter; pass a seeded one in tests.
    """

    def __init__(self, base: float = 0.05, cap: float = 5.0, rng: random.Random | None = None):
        if base <= 0 or cap < base:
            raise ValueError(f"backoff: base must be > 0 and cap >= base, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self.rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0 for the first retry)."""
        ceiling = min(self.cap, self.base * (2 ** min(attempt, 30)))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


class RetriesExhausted(Exception):
    """A transient error outlived its retry budget; ``__cause__`` is the last error."""

    def __init__(self, attempts: int, last: BaseException):
        self.attempts = attempts
        self.last = last
        super().__init__(f"gave up after {attempts} attempts: {last}")


@dataclass
class RetryStats:
    """What a retried call went through; writers add these to their counters."""

    throttles: int = 0
    transient_errors: int = 0


def call_with_retries(
    fn: Callable[[], T],
    classify: Callable[[BaseException], str],
    backoff: Backoff,
    sleep: Callable[[float], None],
    max_transient: int = 10,
    stats: RetryStats | None = None,
) -> T:
    """Call ``fn`` until it succeeds, retrying as ``classify`` says.

    ``classify(exc)`` returns ``"throttle"`` (retried without limit: the service asked us to slow
    down, and giving up would lose items), ``"transient"`` (retried up to ``max_transient`` times)
    or ``"fatal"`` (re-raised at once).

    Raises
    ------
    RetriesExhausted
        When transient errors persist past the budget.
    """
    attempt = 0
    transient = 0
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, never swallowed
            kind = classify(exc)
            if kind == "fatal":
                raise
            if kind == "transient":
                transient += 1
                if stats is not None:
                    stats.transient_errors += 1
                if transient > max_transient:
                    raise RetriesExhausted(transient, exc) from exc
            elif stats is not None:
                stats.throttles += 1
            sleep(backoff.delay(attempt))
            attempt += 1


class RateLimiter:
    """A token bucket charged after the fact with the capacity a call really consumed.

    DynamoDB reports consumed capacity in the response, so the caller asks how long to wait
    before a call (:meth:`delay`) and charges the reported cost after it (:meth:`charge`). The
    bucket may go negative; the next call then waits until it is refilled. A ``rate`` of None
    means no limit.

    Parameters
    ----------
    rate : float or None
        Capacity units per second.
    now : float
        The current time (any monotonic clock, in seconds).
    burst_seconds : float
        How many seconds of unused capacity may accumulate.
    """

    def __init__(self, rate: float | None, now: float, burst_seconds: float = 1.0):
        if rate is not None and rate <= 0:
            raise ValueError(f"rate limiter: rate must be positive, got {rate}")
        self.rate = rate
        self.capacity = rate * burst_seconds if rate is not None else math.inf
        self.tokens = self.capacity
        self.updated = now

    def _refill(self, now: float) -> None:
        if self.rate is None:
            return
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now

    def delay(self, now: float) -> float:
        """Seconds to wait before the next call may start."""
        if self.rate is None:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def charge(self, cost: float, now: float) -> None:
        """Record ``cost`` capacity units consumed by a call that just finished."""
        if self.rate is None:
            return
        self._refill(now)
        self.tokens -= cost


@dataclass(frozen=True)
class ThroughputCap:
    """A capacity cap for the whole job and the share of each concurrent task."""

    total: float | None
    per_task: float | None
    origin: str

    def describe(self, unit: str) -> str:
        if self.total is None:
            return f"no cap ({self.origin})"
        return f"{self.total:g} {unit}/s ({self.origin}), {self.per_task:g} per task"


def throughput_cap(
    configured: int | None,
    provisioned: int | None,
    percent: float | None,
    default_percent: float,
    tasks: int,
) -> ThroughputCap:
    """Derive a job-wide cap and its per-task share.

    Parameters
    ----------
    configured : int or None
        ``readThroughput``/``writeThroughput`` from the configuration: replaces the table's own.
    provisioned : int or None
        The table's provisioned capacity; None or 0 for on-demand tables.
    percent : float or None
        ``throughputReadPercent``/``throughputWritePercent``; ``default_percent`` when None.
    tasks : int
        How many tasks run at once and share the cap.

    Returns
    -------
    ThroughputCap
        ``total`` None when there is nothing to cap against (on-demand, nothing configured).
    """
    if tasks < 1:
        raise ValueError(f"throughput cap: tasks must be >= 1, got {tasks}")
    share = default_percent if percent is None else percent
    if configured:
        base, origin = configured, f"configured {configured} x {share:g}"
    elif provisioned:
        base, origin = provisioned, f"provisioned {provisioned} x {share:g}"
    else:
        return ThroughputCap(None, None, "on-demand table, nothing configured")
    total = base * share
    return ThroughputCap(total, total / tasks, origin)
