"""The canned DynamoDB endpoint (devtools/canned_dynamodb.py) answers a real boto3 client as DynamoDB would."""

from __future__ import annotations

import zlib
from decimal import Decimal

import boto3
import pytest
import urllib3

from devtools.canned_dynamodb import PREFIX, CannedDynamoDB

PAGES, PAGE_ITEMS = 3, 50


@pytest.fixture(scope="module")
def endpoint():
    with CannedDynamoDB(pages=PAGES, page_items=PAGE_ITEMS) as server:
        yield server.endpoint


def client(endpoint):
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y")


def test_a_scan_reads_every_page_and_its_values_parse(endpoint):
    pages = list(client(endpoint).get_paginator("scan").paginate(
        TableName="t", Segment=0, TotalSegments=1, ReturnConsumedCapacity="TOTAL"))
    assert len(pages) == PAGES
    items = [item for page in pages for item in page["Items"]]
    assert len(items) == PAGES * PAGE_ITEMS
    assert len({item["pk"]["S"] for item in items}) == len(items)
    assert all(page["Count"] == page["ScannedCount"] == PAGE_ITEMS for page in pages)
    assert pages[0]["ConsumedCapacity"]["TableName"] == "t" and pages[0]["ConsumedCapacity"]["CapacityUnits"] > 0
    assert "LastEvaluatedKey" in pages[0] and "LastEvaluatedKey" not in pages[-1]
    item = items[0]
    assert isinstance(item["blob"]["B"], bytes) and all(isinstance(b, bytes) for b in item["chunks"]["BS"])
    assert item["note"] == {"NULL": True} and isinstance(item["active"]["BOOL"], bool)
    assert item["address"]["M"]["lines"]["L"][0]["S"]
    assert {len(i["amount"]["N"]) for i in items} >= {38}
    for number in (item["amount"]["N"], *item["scores"]["NS"]):
        Decimal(number)


def test_every_answer_carries_its_crc32():
    with CannedDynamoDB(pages=2, page_items=5) as server:
        http = urllib3.PoolManager()
        for target, body in (("Scan", b'{"TableName":"t"}'), ("BatchWriteItem", b'{"RequestItems":{"t":[]}}'),
                             ("DescribeTable", b'{"TableName":"t"}')):
            answer = http.request("POST", server.endpoint, body=body, headers={"X-Amz-Target": PREFIX + target})
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "application/x-amz-json-1.0"
            assert int(answer.headers["x-amz-crc32"]) == zlib.crc32(answer.data)


def test_batch_write_leaves_nothing_unprocessed(endpoint):
    puts = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "sk": {"N": str(i)}, "b": {"B": b"\x00\x01"}}}}
            for i in range(25)]
    answer = client(endpoint).batch_write_item(RequestItems={"t": puts}, ReturnConsumedCapacity="TOTAL")
    assert answer["UnprocessedItems"] == {}
    assert answer["ConsumedCapacity"] == [{"TableName": "t", "CapacityUnits": 25.0}]
    assert client(endpoint).batch_write_item(RequestItems={"t": puts})["UnprocessedItems"] == {}
