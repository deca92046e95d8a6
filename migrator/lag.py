"""Replication lag as a mergeable histogram: executors count, the driver adds up and reads quantiles.

Lag is the time from a change's creation (the stream record's ``ApproximateCreationDateTime``) to
the moment its batch was written to the target. Every record of a batch counts, not only the last
change per key, so that p99 means what a user expects. Buckets grow by 5% from 10 ms, so a
quantile is exact to 5% and a histogram of any number of records stays a few hundred integers.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

#: Upper bound of bucket 0, in seconds; bucket i holds lags up to FIRST * GROWTH ** i.
FIRST = 0.01
GROWTH = 1.05
_LOG_GROWTH = math.log(GROWTH)


def bucket(lag: float) -> int:
    """The bucket of a lag in seconds (negative lags, from clock skew, count as zero)."""
    if lag <= FIRST:
        return 0
    return max(0, math.ceil(math.log(lag / FIRST) / _LOG_GROWTH - 1e-9))


def upper_bound(index: int) -> float:
    return FIRST * GROWTH ** index


class LagHistogram:
    """Counts of lags per bucket; ``as_dict`` and ``from_dict`` carry it between processes."""

    def __init__(self, counts: Mapping[int, int] | None = None):
        self.counts: dict[int, int] = dict(counts or {})

    def add(self, lag: float, n: int = 1) -> None:
        index = bucket(lag)
        self.counts[index] = self.counts.get(index, 0) + n

    def add_all(self, lags: Iterable[float]) -> None:
        for lag in lags:
            self.add(lag)

    def merge(self, other: "LagHistogram") -> None:
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def quantile(self, q: float) -> float | None:
        """The lag that a share ``q`` of the records did not exceed (a bucket's upper bound)."""
        total = self.total
        if not total:
            return None
        rank = max(1, math.ceil(q * total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return upper_bound(index)
        return upper_bound(max(self.counts))  # not reached: ranks never exceed the total

    def as_dict(self) -> dict[str, int]:
        return {str(index): n for index, n in sorted(self.counts.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, int] | None) -> "LagHistogram":
        return cls({int(index): int(n) for index, n in (data or {}).items()})
