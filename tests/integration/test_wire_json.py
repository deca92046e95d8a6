"""The wire-JSON path and botocore agree on every answer and error the copy and the readers handle.

A loopback HTTP server answers with generated bodies of Scan, Query, BatchWriteItem, BatchGetItem and
GetRecords (every attribute type, nested, pagination keys, unprocessed requests, consumed capacity, DynamoDB
Local's untyped empty maps, creation times with milliseconds) and with the service's errors; botocore's
client and the :class:`WireJsonClient` around that same client must give the same answers (botocore's bytes
as base64 text), send the same requests, and raise the same error codes and classes.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from migrator.clients import ClientSpec, error_kind
from migrator.convert import item_from_wire
from migrator.sources.dynamodb.streams import record_row
from migrator.wire_json import CODEC, STANDARD, WireJsonClient


class Canned:
    """A server that answers every request with ``status`` and ``body``, and keeps the last request."""

    def __init__(self):
        self.status, self.body, self.crc = 200, b"{}", True
        self.queue: list[tuple[int, bytes]] = []  # (status, body) answered before ``body``, one a request
        self.paths: list[str] = []  # the request lines' targets (a full URL when sent through a proxy)
        self.requests: list[tuple[dict, bytes]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one round trip per call, not a delayed ACK's 40 ms

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                canned.requests.append((dict(self.headers), self.rfile.read(length)))
                canned.paths.append(self.path)
                status, body = canned.queue.pop(0) if canned.queue else (canned.status, canned.body)
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                crc = zlib.crc32(body) & 0xFFFFFFFF
                self.send_header("x-amz-crc32", str(crc if canned.crc else crc ^ 1))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture(scope="module")
def canned():
    server = Canned()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def spec(canned):
    return ClientSpec(canned.endpoint, "us-east-1", "AKIARAW", SecretStr("raw-secret"))


#: Both codecs: orjson (installed with the package) and the standard library's json (its fallback).
CODECS = [pytest.param(STANDARD, id="json")] + ([pytest.param(CODEC, id=CODEC.name)] if CODEC is not STANDARD else [])


@pytest.fixture(scope="module", params=CODECS)
def codec(request):
    return request.param


@pytest.fixture(scope="module")
def streams(spec, codec):
    return WireJsonClient(spec.streams(retries=1).botocore_client, codec=codec)


@pytest.fixture(scope="module")
def dynamodb(spec, codec):
    return WireJsonClient(spec.dynamodb(retries=1).botocore_client, codec=codec)


def b64(data):
    return base64.b64encode(data).decode()


numbers = st.sampled_from(["0", "-7", "1.5", "1E+2", "12345678901234567890123456789012345678",
                           "1.2345678901234567890123456789012345678E-100", "9.9E+125", "-1E-130"])
scalars = st.one_of(
    st.text(max_size=12).map(lambda s: {"S": s}), numbers.map(lambda n: {"N": n}),
    st.binary(max_size=12).map(lambda b: {"B": b64(b)}), st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}), st.sets(st.text(max_size=6), min_size=1, max_size=3).map(lambda s: {"SS": sorted(s)}),
    st.sets(numbers, min_size=1, max_size=3).map(lambda s: {"NS": sorted(s)}),
    st.sets(st.binary(min_size=1, max_size=6), min_size=1, max_size=3).map(lambda s: {"BS": [b64(b) for b in sorted(s)]}),
    st.just({}),  # DynamoDB Local's empty map
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3).map(lambda items: {"L": items}),
    st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3).map(lambda m: {"M": m})), max_leaves=12)
keys = st.fixed_dictionaries({"pk": st.one_of(st.text(min_size=1, max_size=8).map(lambda s: {"S": s}),
                                              st.binary(min_size=1, max_size=8).map(lambda b: {"B": b64(b)}),
                                              numbers.map(lambda n: {"N": n}))})


scan_values = st.recursive(  # a Scan never answers DynamoDB Local's untyped {} (only stream images do)
    scalars.filter(bool), lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: {"L": items}),
        st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3).map(lambda m: {"M": m})), max_leaves=12)
items = st.builds(lambda key, rest: {**rest, **key}, keys,
                  st.dictionaries(st.text(min_size=1, max_size=6), scan_values, max_size=5))
capacity = st.fixed_dictionaries({"TableName": st.just("t"), "CapacityUnits": st.floats(0, 1000, allow_nan=False)})


def wire(value):
    """botocore's answer in wire form: bytes as base64 text (what the wire-JSON path keeps)."""
    if isinstance(value, (bytes, bytearray)):
        return b64(bytes(value))
    if isinstance(value, dict):
        return {k: wire(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [wire(v) for v in value]
    return value


def answer(canned, body, status=200):
    canned.status, canned.body, canned.crc = status, json.dumps(body).encode(), True


def both(client, method, **params):
    """The answers of botocore and of the wire-JSON path to one call."""
    assert isinstance(client, WireJsonClient)
    return getattr(client.botocore_client, method)(**params), getattr(client, method)(**params)


@st.composite
def scan_pages(draw):
    page = {"Items": draw(st.lists(items, max_size=4)), "ScannedCount": draw(st.integers(0, 10))}
    page["Count"] = len(page["Items"])
    if draw(st.booleans()):
        page["LastEvaluatedKey"] = draw(keys)
    if draw(st.booleans()):
        page["ConsumedCapacity"] = draw(capacity)
    return page


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=scan_pages(), method=st.sampled_from(["scan", "query"]))
def test_scan_and_query_pages_are_the_same(canned, dynamodb, page, method):
    answer(canned, page)
    params = {"TableName": "t", "Limit": 3, "ReturnConsumedCapacity": "TOTAL"}
    params.update({"Segment": 1, "TotalSegments": 4} if method == "scan" else
                  {"KeyConditionExpression": "pk = :k", "ExpressionAttributeValues": {":k": {"S": "a"}}})
    plain, raw = both(dynamodb, method, **params)
    assert raw == wire(plain) == page


@st.composite
def batch_write_answers(draw):
    unprocessed = draw(st.lists(st.one_of(items.map(lambda i: {"PutRequest": {"Item": i}}),
                                          keys.map(lambda k: {"DeleteRequest": {"Key": k}})), max_size=3))
    body = {"UnprocessedItems": {"t": unprocessed} if unprocessed else {}}
    if draw(st.booleans()):
        body["ConsumedCapacity"] = draw(st.lists(capacity, max_size=1))
    return body


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=batch_write_answers(), sent=st.lists(items, min_size=1, max_size=4))
def test_batch_write_answers_and_requests_are_the_same(canned, dynamodb, body, sent):
    answer(canned, body)
    # botocore's form of the items (binary as bytes), as a botocore Scan or a MongoDB document gives them
    requests = [{"PutRequest": {"Item": item_from_wire(item)}} for item in sent]
    plain, raw = both(dynamodb, "batch_write_item", RequestItems={"t": requests})
    assert raw == wire(plain) == body
    # The same request either way, and from wire-form items (a wire-JSON Scan's) too.
    dynamodb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": item}} for item in sent]})
    bodies = [json.loads(b) for _, b in canned.requests[-3:]]
    assert bodies[0] == bodies[1] == bodies[2] == {"RequestItems": {"t": [{"PutRequest": {"Item": i}} for i in sent]}}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(found=st.lists(items, max_size=4), unprocessed=st.lists(keys, max_size=3))
def test_batch_get_answers_are_the_same(canned, dynamodb, found, unprocessed):
    body = {"Responses": {"t": found},
            "UnprocessedKeys": {"t": {"Keys": unprocessed, "ConsistentRead": True}} if unprocessed else {}}
    answer(canned, body)
    plain, raw = both(dynamodb, "batch_get_item", RequestItems={"t": {"Keys": [{"pk": {"S": "a"}}],
                                                                      "ConsistentRead": True}})
    assert raw == wire(plain) == body


@st.composite
def records(draw):
    event = draw(st.sampled_from(["INSERT", "MODIFY", "REMOVE", "SOMETHING_NEW"]))
    key = draw(keys)
    data = {"ApproximateCreationDateTime": draw(st.integers(1_600_000_000_000, 1_900_000_000_000)) / 1000,
            "Keys": key, "SequenceNumber": f"{draw(st.integers(0, 10**20)):021d}",
            "SizeBytes": draw(st.integers(1, 400_000)), "StreamViewType": "NEW_IMAGE"}
    if event != "REMOVE":
        data["NewImage"] = {**key, **draw(st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=4))}
    return {"eventID": "e", "eventName": event, "eventVersion": "1.1", "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1", "dynamodb": data}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=st.lists(records(), max_size=5), more=st.booleans())
def test_get_records_give_the_same_rows_and_next_iterator(canned, streams, page, more):
    body = {"Records": page}
    if more:
        body["NextShardIterator"] = "next-iterator"
    answer(canned, body)
    plain, raw = both(streams, "get_records", ShardIterator="it", Limit=7)
    assert [record_row(r, "s") for r in raw["Records"]] == [record_row(r, "s") for r in plain["Records"]]
    assert raw.get("NextShardIterator") == plain.get("NextShardIterator")
    assert isinstance(plain["Records"][0]["dynamodb"]["ApproximateCreationDateTime"], datetime.datetime) if page else True


@pytest.mark.parametrize("method, params", [
    ("scan", {"TableName": "t", "Segment": 0, "TotalSegments": 2, "ExclusiveStartKey": {"pk": {"B": b"\x00\xff"}}}),
    ("get_records", {"ShardIterator": "it-1", "Limit": 3}),
])
def test_the_request_is_the_one_botocore_sends(canned, dynamodb, streams, method, params):
    client = streams if method == "get_records" else dynamodb
    answer(canned, {})
    both(client, method, **params)
    (plain_headers, plain_body), (raw_headers, raw_body) = canned.requests[-2:]
    assert json.loads(raw_body) == json.loads(plain_body)
    for name in ("X-Amz-Target", "Content-Type"):
        assert raw_headers[name] == plain_headers[name]
    service = "dynamodb"  # Streams sign as dynamodb too
    assert raw_headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIARAW/")
    assert f"/us-east-1/{service}/aws4_request" in raw_headers["Authorization"]
    assert "raw-secret" not in json.dumps(raw_headers)
    assert "migrator-wire-json" in raw_headers["User-Agent"]


@pytest.mark.parametrize("method", ["scan", "batch_write_item", "get_records"])
@pytest.mark.parametrize("status, code, kind", [
    (400, "ProvisionedThroughputExceededException", "throttle"), (400, "ThrottlingException", "throttle"),
    (400, "LimitExceededException", "throttle"), (400, "RequestLimitExceeded", "throttle"),
    (400, "ExpiredIteratorException", "fatal"), (400, "TrimmedDataAccessException", "fatal"),
    (400, "ResourceNotFoundException", "fatal"), (400, "ValidationException", "fatal"),
    (400, "ItemCollectionSizeLimitExceededException", "fatal"), (500, "InternalServerError", "transient"),
    (503, "ServiceUnavailable", "transient"),
])
def test_errors_have_the_same_code_message_and_class(canned, dynamodb, streams, method, status, code, kind):
    client = streams if method == "get_records" else dynamodb
    params = ({"ShardIterator": "it", "Limit": 1} if method == "get_records" else
              {"RequestItems": {"t": [{"DeleteRequest": {"Key": {"pk": {"S": "a"}}}}]}} if method == "batch_write_item"
              else {"TableName": "t"})
    answer(canned, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "m"}, status)
    failures = []
    for call in (getattr(client.botocore_client, method), getattr(client, method)):
        with pytest.raises(ClientError) as failed:
            call(**params)
        failures.append(failed.value)
    plain, raw = failures
    assert raw.response["Error"] == plain.response["Error"] == {"Code": code, "Message": "m"}
    assert str(raw) == str(plain)
    assert error_kind(raw) == error_kind(plain) == kind


@pytest.mark.parametrize("status, body", [(500, b""), (502, b"<html>Bad Gateway</html>"),
                                          (400, b'{"__type": "com.amazon.coral.service#SerializationException:x"}'),
                                          (400, b'{"code": "Odd", "Message": "capital"}')])
def test_errors_without_the_usual_body_are_parsed_as_botocore_parses_them(canned, dynamodb, status, body):
    canned.status, canned.body, canned.crc = status, body, True
    failures = []
    for call in (dynamodb.botocore_client.scan, dynamodb.scan):
        with pytest.raises(ClientError) as failed:
            call(TableName="t")
        failures.append(failed.value)
    plain, raw = failures
    assert raw.response["Error"] == plain.response["Error"]
    assert error_kind(raw) == error_kind(plain)


def test_a_corrupted_answer_is_a_transient_error(canned, dynamodb, streams):
    canned.status, canned.body, canned.crc = 200, b'{"Records": [], "Items": []}', False
    for call in (streams.get_records, dynamodb.scan):
        with pytest.raises(Exception) as raw:
            call(ShardIterator="it", Limit=1) if call == streams.get_records else call(TableName="t")
        assert error_kind(raw.value) == "transient"
    canned.crc = True


def test_other_calls_and_the_switch_are_botocore_s(canned, spec):
    answer(canned, {"TableNames": ["a", "b"]})
    client = spec.dynamodb(retries=1)
    assert isinstance(client, WireJsonClient) and CODEC.name == "orjson"  # orjson is a dependency
    assert client.list_tables()["TableNames"] == ["a", "b"] and client.meta.region_name == "us-east-1"
    from dataclasses import replace

    plain = replace(spec, wire_json=False).dynamodb(retries=1)
    assert not isinstance(plain, WireJsonClient)
    answer(canned, {"Items": [{"pk": {"B": b64(b"\x01")}}]})
    assert plain.scan(TableName="t")["Items"] == [{"pk": {"B": b"\x01"}}]


def test_the_botocore_writer_and_fetch_take_wire_form_items(canned, spec):
    """A wire-JSON Scan's items (binary as base64 text) into a botocoreCalls: true target: binary arrives as it
    was, not base64-encoded a second time."""
    from dataclasses import replace

    from migrator.sources.dynamodb.scan import batch_get
    from migrator.targets.dynamodb.writer import DynamoDBWriter

    plain = replace(spec, wire_json=False).dynamodb(retries=1)
    item = {"pk": {"B": b64(b"\x00\xff")}, "bs": {"BS": [b64(b"\x01")]}, "m": {"M": {"b": {"B": b64(b"\x02")}}}}
    gone = {"pk": {"B": b64(b"\x03")}}
    answer(canned, {"UnprocessedItems": {}})
    writer = DynamoDBWriter(plain, "t", ["pk"], request_capacity=False)
    writer.put(item)
    writer.delete(gone)
    writer.flush()
    writer.close()
    assert json.loads(canned.requests[-1][1]) == {
        "RequestItems": {"t": [{"PutRequest": {"Item": item}}, {"DeleteRequest": {"Key": gone}}]}}
    assert writer.stats.puts == 1 and writer.stats.deletes == 1
    answer(canned, {"Responses": {"t": [item]}})
    assert batch_get(plain, "t", [{"pk": item["pk"]}]) == [item_from_wire(item)]
    assert json.loads(canned.requests[-1][1])["RequestItems"]["t"]["Keys"] == [{"pk": item["pk"]}]


def test_unprocessed_requests_are_counted_and_sent_again_as_returned(canned, spec):
    from migrator.targets.dynamodb.writer import DynamoDBWriter

    client = spec.dynamodb(retries=1)
    items = [{"pk": {"B": b64(bytes([n]))}, "v": {"N": str(n)}} for n in range(3)]
    writer = DynamoDBWriter(client, "t", ["pk"], request_capacity=False, sleep=lambda _: None)
    canned.queue = [(200, json.dumps({"UnprocessedItems": {"t": [{"PutRequest": {"Item": items[2]}},
                                                                {"DeleteRequest": {"Key": {"pk": items[0]["pk"]}}}]}}
                                     ).encode())]
    answer(canned, {"UnprocessedItems": {}})
    writer.put(item_from_wire(items[2]))  # botocore's form in (binary as bytes), the answer's wire form back
    writer.delete(item_from_wire({"pk": items[0]["pk"]}))
    writer.put(item_from_wire(items[1]))
    writer.flush()
    writer.close()
    first, again = (json.loads(body) for _, body in canned.requests[-2:])
    assert len(first["RequestItems"]["t"]) == 3
    assert again == {"RequestItems": {"t": [{"PutRequest": {"Item": items[2]}},
                                            {"DeleteRequest": {"Key": {"pk": items[0]["pk"]}}}]}}
    assert (writer.stats.puts, writer.stats.deletes, writer.stats.unprocessed, writer.stats.batches) == (2, 1, 2, 2)


def test_both_paths_go_through_the_environment_s_proxy(canned, monkeypatch):
    """The HTTP session is botocore's: a proxy from the environment carries the wire-JSON calls too."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", canned.endpoint)
    client = ClientSpec("http://dynamodb.example.invalid:8000", "us-east-1", "AKIARAW",
                        SecretStr("raw-secret")).dynamodb(retries=1)
    answer(canned, {"Items": [{"pk": {"S": "a"}}]})
    plain, raw = both(client, "scan", TableName="t")
    assert raw == wire(plain) and canned.paths[-2:] == ["http://dynamodb.example.invalid:8000/"] * 2
    assert canned.requests[-1][0]["Host"] == "dynamodb.example.invalid:8000"


def test_a_client_with_attempts_left_tries_throttles_again_as_botocore_would(canned, spec):
    """The validator's fetches and check's probes use clients of several attempts; the copy's use one."""
    slept = []
    client = WireJsonClient(spec.dynamodb(retries=3).botocore_client, sleep=slept.append)
    throttle = (400, b'{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow"}')
    answer(canned, {"Items": []})
    canned.queue = [throttle, (503, b"")]
    assert client.scan(TableName="t") == {"Items": []} and len(slept) == 2
    canned.queue = [throttle] * 3
    with pytest.raises(ClientError) as failed:
        client.scan(TableName="t")
    assert failed.value.response["ResponseMetadata"]["RetryAttempts"] == 2 and len(slept) == 4
    assert str(failed.value).endswith("operation (reached max retries: 2): slow")
    canned.queue = [(400, b'{"__type": "com.amazonaws.dynamodb.v20120810#ValidationException", "message": "no"}')]
    with pytest.raises(ClientError, match="ValidationException"):
        client.scan(TableName="t")
    assert len(slept) == 4  # not tried again
