"""Segment planning and the paged scan of one segment (botocore Stubber, no server)."""

from __future__ import annotations

import random

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from migrator.convert import item_to_wire
from migrator.sources.base import Segment
from migrator.sources.dynamodb.scan import page_limit, plan_segment_count, scan_pages
from migrator.throttle import Backoff, RateLimiter, RetryStats

MIB = 1024 * 1024


@pytest.mark.parametrize("size, cores, configured, expected", [
    (0, 4, None, 4),               # empty table: still one per core
    (50 * MIB, 2, None, 2),
    (1000 * MIB, 2, None, 10),     # one per 100 MiB
    (1001 * MIB, 2, None, 11),
    (10 * MIB, 8, 3, 3),           # configured wins
    (10**15, 2, None, 1_000_000),  # DynamoDB's TotalSegments limit
])
def test_segment_count(size, cores, configured, expected):
    assert plan_segment_count(size, cores, configured) == expected


def test_page_limit_follows_the_read_and_write_shares():
    assert page_limit(None, None, 1000) is None
    assert page_limit(100, None, 8192) == 100       # 100 RCU/s, 8 KiB items: 100 items a second
    assert page_limit(None, 100, 2500) == 33        # 100 WCU/s, 3 WCU an item
    assert page_limit(100, 100, 2500) == 33         # the smaller share decides
    assert page_limit(10_000, None, 100) == 1000    # capped
    assert page_limit(0.01, None, 400_000) == 1


def client():
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")


def test_scan_pages_follow_last_evaluated_key_from_a_resume_key_with_binary():
    ddb = client()
    start = {"pk": {"B": b"\x00\xff"}}
    with Stubber(ddb) as stub:
        expected = {"TableName": "t1x", "Segment": 2, "TotalSegments": 4, "ReturnConsumedCapacity": "TOTAL",
                    "Limit": 10, "ExclusiveStartKey": start}
        stub.add_response("scan", {"Items": [{"pk": {"S": "a"}}], "LastEvaluatedKey": {"pk": {"S": "a"}},
                                   "ConsumedCapacity": {"CapacityUnits": 2.5}}, expected)
        stub.add_client_error("scan", "ProvisionedThroughputExceededException",
                              expected_params={**expected, "ExclusiveStartKey": {"pk": {"S": "a"}}})
        stub.add_response("scan", {"Items": [{"pk": {"S": "b"}}]}, {**expected, "ExclusiveStartKey": {"pk": {"S": "a"}}})
        stats = RetryStats()
        limiter = RateLimiter(rate=1.0, now=0.0)
        slept = []
        pages = list(scan_pages(ddb, "t1x", Segment(2, 4, item_to_wire(start)), limit=10, limiter=limiter,
                                backoff=Backoff(rng=random.Random(1)), clock=lambda: 0.0, sleep=slept.append,
                                stats=stats))
    assert [p.items for p in pages] == [[{"pk": {"S": "a"}}], [{"pk": {"S": "b"}}]]
    assert pages[0].last_key == {"pk": {"S": "a"}} and pages[1].last_key is None
    assert stats.throttles == 1
    assert slept[0] == pytest.approx(1.5)  # 2.5 RCU spent against a 1 RCU/s share
    assert pages[0].consumed == 2.5


def test_without_consumed_capacity_the_limiter_is_charged_what_dynamodb_would_count():
    ddb = client()
    items = [{"pk": {"S": c * 5000}} for c in "abc"]  # 15,006 bytes: 4 started 4 KiB blocks
    with Stubber(ddb) as stub:
        stub.add_response("scan", {"Items": items}, {"TableName": "t1x", "Segment": 0, "TotalSegments": 1,
                                                     "Limit": 1000})  # PAGE_ITEMS: no cap asks for fewer
        limiter = RateLimiter(rate=1.0, now=0.0)
        slept = []
        pages = list(scan_pages(ddb, "t1x", Segment(0, 1, None), limiter=limiter, clock=lambda: 0.0,
                                sleep=slept.append, request_capacity=False))
        assert limiter.delay(0.0) == pytest.approx(1.0)  # 2 RCU (half a unit per 4 KiB) against 1 RCU/s
    assert pages[0].consumed == 2.0 and pages[0].items == items


def test_scan_errors_that_are_not_retryable_propagate():
    ddb = client()
    with Stubber(ddb) as stub:
        stub.add_client_error("scan", "ResourceNotFoundException")
        with pytest.raises(ClientError, match="ResourceNotFoundException"):
            list(scan_pages(ddb, "t1x", Segment(0, 1)))


def test_parameters_we_pass_exist_in_the_service_model():
    """Contract: every Scan / BatchWriteItem parameter we send is one botocore knows."""
    model = client().meta.service_model
    scan = model.operation_model("Scan").input_shape.members
    for name in ("TableName", "Segment", "TotalSegments", "ReturnConsumedCapacity", "Limit", "ExclusiveStartKey"):
        assert name in scan
    batch = model.operation_model("BatchWriteItem").input_shape.members
    assert {"RequestItems", "ReturnConsumedCapacity"} <= set(batch)
    create = model.operation_model("CreateTable").input_shape.members
    for name in ("TableName", "KeySchema", "AttributeDefinitions", "BillingMode", "ProvisionedThroughput",
                 "GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        assert name in create


class PagedFake:
    """scan() answers three pages per segment; segment 3 fails if asked to."""

    def __init__(self, fail_segment=None):
        self.fail_segment = fail_segment

    def scan(self, **params):
        seg = params["Segment"]
        if seg == self.fail_segment:
            raise ValueError("boom")
        page = int(params.get("ExclusiveStartKey", {}).get("p", {}).get("N", "0"))
        out = {"Items": [{"pk": {"S": f"{seg}-{page}-{i}"}} for i in range(5)]}
        if page < 2:
            out["LastEvaluatedKey"] = {"p": {"N": str(page + 1)}}
        return out


def test_several_segments_are_scanned_at_once_and_errors_surface():
    from migrator.sources.dynamodb.scan import scan_segments_concurrently

    segments = [Segment(n, 4) for n in range(3)]
    got = [i["pk"]["S"] for i in scan_segments_concurrently(PagedFake(), "t1x", segments)]
    assert sorted(got) == sorted(f"{s}-{p}-{i}" for s in range(3) for p in range(3) for i in range(5))
    with pytest.raises(ValueError, match="boom"):
        list(scan_segments_concurrently(PagedFake(fail_segment=3), "t1x", [Segment(2, 4), Segment(3, 4)]))
