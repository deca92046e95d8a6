"""The retention rule that guards the start of replication."""

from __future__ import annotations

import pytest

from migrator.jobs.migration import RETENTION_SECONDS, check_retention
from migrator.errors import StreamTrimmedError

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


def test_errors_inside_spark_tracebacks_are_found():
    from migrator.errors import remote_error
    from migrator.jobs.streaming import _query_error

    trace = ("org.apache.spark.SparkException: Job aborted ... Traceback (most recent call last):\n"
             "  File \"x.py\", line 1\nmigrator.errors.TargetError: target 'orders' refused the item with key "
             "{pk='a' (S)}: too large\n\tat org.apache...")
    assert remote_error(trace) == "TargetError: target 'orders' refused the item with key {pk='a' (S)}: too large"
    assert remote_error("java.lang.OutOfMemoryError") is None
    assert _query_error("[STREAM_FAILED] boom\nmore") == "the replication query failed: [STREAM_FAILED] boom"
    assert _query_error("...\nmigrator.errors.StreamTrimmedError: changes are lost\n").startswith("StreamTrimmedError")
