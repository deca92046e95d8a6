"""Backoff, retries, rate limits and throughput caps, on a fake clock."""

from __future__ import annotations

import random

import pytest

from migrator.throttle import (Backoff, RateLimiter, RetriesExhausted, RetryStats, call_with_retries,
                               throughput_cap)


class Boom(Exception):
    def __init__(self, kind):
        self.kind = kind


def classify(exc):
    return exc.kind if isinstance(exc, Boom) else "fatal"


def failing(kinds):
    """A call that raises Boom(kind) for each kind in turn, then returns 'ok'."""
    kinds = list(kinds)

    def call():
        if kinds:
            raise Boom(kinds.pop(0))
        return "ok"
    return call


def test_backoff_grows_exponentially_with_jitter_and_stays_under_the_cap():
    backoff = Backoff(base=0.1, cap=2.0, rng=random.Random(3))
    delays = [backoff.delay(a) for a in range(12)]
    for attempt, delay in enumerate(delays):
        ceiling = min(2.0, 0.1 * 2 ** attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] >= 1.0  # capped, but not collapsed to zero by jitter


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError, match="base must be > 0"):
        Backoff(base=0)


def test_throttling_is_retried_without_limit():
    slept = []
    stats = RetryStats()
    result = call_with_retries(failing(["throttle"] * 200), classify, Backoff(rng=random.Random(1)),
                               slept.append, max_transient=3, stats=stats)
    assert result == "ok"
    assert stats.throttles == 200 and len(slept) == 200


def test_transient_errors_have_a_budget():
    slept = []
    with pytest.raises(RetriesExhausted) as info:
        call_with_retries(failing(["transient"] * 5), classify, Backoff(), slept.append, max_transient=3)
    assert info.value.attempts == 4
    assert isinstance(info.value.__cause__, Boom)
    assert len(slept) == 3
    assert call_with_retries(failing(["transient"] * 3), classify, Backoff(), slept.append, max_transient=3) == "ok"


def test_fatal_errors_are_not_retried():
    slept = []
    with pytest.raises(Boom):
        call_with_retries(failing(["fatal", "throttle"]), classify, Backoff(), slept.append)
    assert slept == []


def test_rate_limiter_waits_until_capacity_is_refilled():
    limiter = RateLimiter(rate=10.0, now=0.0)
    assert limiter.delay(0.0) == 0.0
    limiter.charge(25.0, now=0.0)  # 10 in the bucket, 25 spent: 15 owed
    assert limiter.delay(0.0) == pytest.approx(1.5)
    assert limiter.delay(1.0) == pytest.approx(0.5)
    assert limiter.delay(1.5) == 0.0
    # Idle time accumulates at most one second of capacity.
    assert limiter.delay(100.0) == 0.0
    limiter.charge(11.0, now=100.0)
    assert limiter.delay(100.0) == pytest.approx(0.1)


def test_rate_limiter_average_rate_over_many_calls():
    limiter = RateLimiter(rate=50.0, now=0.0)
    now = 0.0
    for _ in range(1000):
        now += limiter.delay(now)
        limiter.charge(5.0, now)
    assert 5000 / now == pytest.approx(50.0, rel=0.02)


def test_unlimited_rate_limiter_never_waits():
    limiter = RateLimiter(rate=None, now=0.0)
    limiter.charge(1e9, 0.0)
    assert limiter.delay(0.0) == 0.0


def test_throughput_cap_from_provisioned_capacity_and_default_percent():
    cap = throughput_cap(configured=None, provisioned=1000, percent=None, default_percent=0.5, tasks=4)
    assert (cap.total, cap.per_task) == (500, 125)
    assert cap.describe("RCU") == "500 RCU/s (provisioned 1000 x 0.5), 125 per task"


def test_configured_throughput_replaces_provisioned_and_percent_applies():
    cap = throughput_cap(configured=2000, provisioned=1000, percent=1.5, default_percent=0.5, tasks=3)
    assert cap.total == 3000 and cap.per_task == 1000


def test_on_demand_table_has_no_cap_unless_configured():
    assert throughput_cap(None, None, 1.0, 0.5, 8).total is None
    assert throughput_cap(400, None, None, 1.0, 8).per_task == 50


def test_throughput_cap_needs_tasks():
    with pytest.raises(ValueError, match="tasks must be >= 1"):
        throughput_cap(None, 5, None, 0.5, 0)
