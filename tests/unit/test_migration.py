"""The retention rule that guards the start of replication."""

from __future__ import annotations

import pytest

from migrator.jobs.migration import RETENTION_SECONDS, check_retention
from migrator.sources.dynamodb.streams import StreamTrimmedError

NOW = 1_800_000_000.0


def test_a_first_start_within_the_retention_is_allowed(tmp_path):
    check_retention(str(tmp_path / "cp"), pinned_at=NOW - 23 * 3600, now=NOW)


def test_a_first_start_too_long_after_the_pin_is_refused(tmp_path):
    with pytest.raises(StreamTrimmedError, match=r"pinned 23.9 hours ago, .* changes made early in the snapshot"):
        check_retention(str(tmp_path / "cp"), pinned_at=NOW - RETENTION_SECONDS + 300, now=NOW)


def test_once_spark_has_offsets_the_reader_checks_instead(tmp_path):
    (tmp_path / "cp" / "offsets").mkdir(parents=True)
    (tmp_path / "cp" / "offsets" / "0").write_text("v1")
    check_retention(str(tmp_path / "cp"), pinned_at=NOW - 3 * RETENTION_SECONDS, now=NOW)
    check_retention("s3a://bucket/cp", pinned_at=NOW - 3 * RETENTION_SECONDS, now=NOW)
