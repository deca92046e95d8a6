"""The lean GetRecords path and botocore agree on every answer the stream readers handle.

A loopback HTTP server answers with generated GetRecords bodies (every attribute type, nested,
DynamoDB Local's untyped empty maps, creation times with milliseconds, pages with and without a next
iterator) and with the service's errors; botocore's client and :class:`RawGetRecords` on that same
client must give the same rows and the same error codes and classes.
"""

from __future__ import annotations

import base64
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
from migrator.sources.dynamodb.raw_records import RawGetRecords
from migrator.sources.dynamodb.streams import record_row


class Canned:
    """A server that answers every request with ``status`` and ``body``, and keeps the last request."""

    def __init__(self):
        self.status, self.body, self.crc = 200, b"{}", True
        self.requests: list[tuple[dict, bytes]] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                canned.requests.append((dict(self.headers), self.rfile.read(length)))
                self.send_response(canned.status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(canned.body)))
                crc = zlib.crc32(canned.body) & 0xFFFFFFFF
                self.send_header("x-amz-crc32", str(crc if canned.crc else crc ^ 1))
                self.end_headers()
                self.wfile.write(canned.body)

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
def client(canned):
    return ClientSpec(canned.endpoint, "us-east-1", "AKIARAW", SecretStr("raw-secret")).streams(retries=1)


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
def test_both_paths_give_the_same_rows_and_next_iterator(canned, client, page, more):
    body = {"Records": page}
    if more:
        body["NextShardIterator"] = "next-iterator"
    canned.status, canned.body, canned.crc = 200, json.dumps(body).encode(), True
    plain = client.get_records(ShardIterator="it", Limit=7)
    raw = RawGetRecords(client).get_records(ShardIterator="it", Limit=7)
    assert [record_row(r, "s") for r in raw["Records"]] == [record_row(r, "s") for r in plain["Records"]]
    assert raw.get("NextShardIterator") == plain.get("NextShardIterator")


def test_the_request_is_the_one_botocore_sends(canned, client):
    canned.status, canned.body = 200, b'{"Records": [], "NextShardIterator": "n"}'
    client.get_records(ShardIterator="it-1", Limit=3)
    RawGetRecords(client).get_records(ShardIterator="it-1", Limit=3)
    (plain_headers, plain_body), (raw_headers, raw_body) = canned.requests[-2:]
    assert json.loads(raw_body) == json.loads(plain_body) == {"ShardIterator": "it-1", "Limit": 3}
    for name in ("X-Amz-Target", "Content-Type"):
        assert raw_headers[name] == plain_headers[name]
    assert raw_headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIARAW/")
    assert "/us-east-1/dynamodb/aws4_request" in raw_headers["Authorization"]
    assert "raw-secret" not in json.dumps(raw_headers)


@pytest.mark.parametrize("status, code, kind", [
    (400, "LimitExceededException", "throttle"), (400, "ExpiredIteratorException", "fatal"),
    (400, "TrimmedDataAccessException", "fatal"), (400, "ResourceNotFoundException", "fatal"),
    (400, "ValidationException", "fatal"), (500, "InternalServerError", "transient"),
    (503, "ServiceUnavailable", "transient"),
])
def test_errors_have_the_same_code_and_class(canned, client, status, code, kind):
    canned.status, canned.crc = status, True
    canned.body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "m"}).encode()
    with pytest.raises(ClientError) as plain:
        client.get_records(ShardIterator="it", Limit=1)
    with pytest.raises(ClientError) as raw:
        RawGetRecords(client).get_records(ShardIterator="it", Limit=1)
    assert raw.value.response["Error"]["Code"] == plain.value.response["Error"]["Code"] == code
    assert error_kind(raw.value) == error_kind(plain.value) == kind


def test_a_corrupted_answer_is_a_transient_error(canned, client):
    canned.status, canned.body, canned.crc = 200, b'{"Records": []}', False
    with pytest.raises(Exception) as raw:
        RawGetRecords(client).get_records(ShardIterator="it", Limit=1)
    assert error_kind(raw.value) == "transient"
    canned.crc = True
