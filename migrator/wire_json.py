"""The hot DynamoDB calls as plain JSON: what a copy does per item, without botocore's per-attribute work.

A copy's CPU is spent in the client: botocore walks every attribute of every item through the service's
shapes, both ways, at several times the cost of reading and writing the JSON (``docs/items-per-core.md``).
Items already travel in DynamoDB's wire form, so that walk buys nothing here. :class:`WireJsonClient` sends ``Scan``,
``Query``, ``BatchWriteItem``, ``BatchGetItem`` and Streams' ``GetRecords`` itself and hands back the
service's JSON as it is; every other call goes to the botocore client it wraps.

What is botocore's stays botocore's: the request is signed by the client's own signer (its credentials,
refreshed as botocore refreshes them, its region and signing name; its ``before-sign`` hooks run, so
Alternator's node spreading and compression apply) and sent over the client's own HTTP session (its
connection pool, proxies, TLS and timeout settings) to the client's endpoint. Errors keep botocore's
meaning: a non-2xx answer becomes the ``ClientError`` botocore would raise, its code parsed from ``__type``
exactly as botocore parses it, so throttling and transient errors are classified and retried as on the
botocore path; connection failures are botocore's own exceptions. An answer whose ``x-amz-crc32`` does not
match its body is a transient error.

JSON is read and written by orjson where it is installed (a dependency of the package; a compiled wheel
for every platform pyarrow has one for): a 1,000-item page reads in about three quarters of :mod:`json`'s
time and a 25-item batch writes in a tenth. Without it the standard library's :mod:`json` does the same.

Values come back in wire form: binary as base64 text (``{"B": "AAE="}``), where botocore gives bytes;
numbers are text either way. Everything that reads items accepts both (:func:`migrator.convert.blob`).
Requests may carry either form too: bytes are written as base64. ``wire_json: false`` on a
:class:`~migrator.clients.ClientSpec` (``botocoreCalls: true`` in the configuration) uses botocore for
these calls as well.
"""

from __future__ import annotations

import base64
import http.client
import json
import time
import urllib.parse
import zlib
from dataclasses import dataclass
from typing import Any, Callable

from botocore.exceptions import ClientError

from .throttle import Backoff

#: The calls that carry items, by boto3 method name: the service's operation name.
OPERATIONS = {"scan": "Scan", "query": "Query", "batch_write_item": "BatchWriteItem",
              "batch_get_item": "BatchGetItem", "get_records": "GetRecords"}
CONTENT_TYPE = "application/x-amz-json-1.0"


def _encode(value: Any) -> str:
    """The JSON encoder's fallback: binary (botocore's form of a ``B`` value) as base64 text, as botocore sends it."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"a request value of type {type(value).__name__} has no JSON form")


@dataclass(frozen=True)
class Codec:
    """How request bodies are written and answers read."""

    name: str
    dumps: Callable[[Any], bytes]
    loads: Callable[[bytes], Any]


STANDARD = Codec("json", lambda obj: json.dumps(obj, default=_encode, separators=(",", ":")).encode("utf-8"),
                 json.loads)


def _fastest() -> Codec:
    try:
        import orjson
    except ImportError:
        return STANDARD
    return Codec("orjson", lambda obj: orjson.dumps(obj, default=_encode), orjson.loads)


#: The codec clients use unless told otherwise.
CODEC = _fastest()


class WireJsonClient:
    """A botocore client whose item-carrying calls (:data:`OPERATIONS`) are sent and read as plain JSON.

    Parameters
    ----------
    client
        A boto3 low-level client (``dynamodb`` or ``dynamodbstreams``); its signer, endpoint and HTTP
        session carry the calls, and it answers every other method.
    sleep
        How to wait between attempts (a parameter for tests).
    codec
        How JSON is written and read; None: :data:`CODEC` (orjson when installed).
    """

    def __init__(self, client: Any, sleep: Callable[[float], None] = time.sleep, codec: Codec | None = None):
        self._client = client
        self._codec = codec or CODEC
        self._signer = client._request_signer
        self._session = client._endpoint.http_session
        url = client.meta.endpoint_url
        self._url = url if urllib.parse.urlsplit(url).path else url + "/"  # the request line botocore sends
        self._prefix = client.meta.service_model.metadata["targetPrefix"]
        self._agent = f"{client.meta.config.user_agent or 'botocore'} migrator-wire-json"
        self._attempts = int((client.meta.config.retries or {}).get("total_max_attempts", 3))
        self._backoff = Backoff(base=0.05, cap=20.0)
        self._sleep = sleep

    def __getattr__(self, name: str) -> Any:
        operation = OPERATIONS.get(name)
        if operation is None:
            return getattr(self._client, name)
        return lambda **params: self.call(operation, params)

    @property
    def botocore_client(self) -> Any:
        return self._client

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Send ``operation`` with ``params`` (boto3's names and values) and return the service's answer as JSON.

        Throttles and transient errors are tried again as often as the client's own retry setting says
        (``total_max_attempts``; the copy loops build clients with 1 and retry themselves), with backoff."""
        from .clients import error_kind

        body = self._codec.dumps(params)
        attempt = 1
        while True:
            try:
                return self._send(operation, body, attempt - 1, attempt >= self._attempts)
            except Exception as exc:  # noqa: BLE001 - classified as botocore's retry handler would
                if attempt >= self._attempts or error_kind(exc) == "fatal":
                    raise
                self._sleep(self._backoff.delay(attempt - 1))
                attempt += 1

    def _send(self, operation: str, body: bytes, retries: int, last: bool) -> dict[str, Any]:
        from botocore.awsrequest import AWSRequest
        from botocore.exceptions import HTTPClientError

        request = AWSRequest(method="POST", url=self._url, data=body,
                             headers={"X-Amz-Target": f"{self._prefix}.{operation}", "Content-Type": CONTENT_TYPE,
                                      "User-Agent": self._agent})
        self._signer.sign(operation, request)
        response = self._session.send(request.prepare())
        content = response.content
        expected = response.headers.get("x-amz-crc32")
        if expected is not None and int(expected) != zlib.crc32(content) & 0xFFFFFFFF:
            raise HTTPClientError(error=f"{operation} answer failed its CRC32 check ({len(content)} bytes)")
        if response.status_code >= 300:
            raise client_error(operation, response.status_code, content, response.headers, retries, last)
        return self._codec.loads(content) if content else {}


def takes_wire_form(client: Any) -> bool:
    """Whether ``client`` sends items as they are, binary as base64 text or bytes alike; botocore's client needs
    them with binary as bytes (``convert.item_from_wire``), or it would encode base64 text again."""
    return isinstance(client, WireJsonClient)


def client_error(operation: str, status: int, content: bytes, headers: Any, retries: int = 0,
                 last: bool = True) -> ClientError:
    """The ``ClientError`` botocore raises for an error answer of the JSON protocol (its ``BaseJSONParser``), after
    ``retries`` attempts before this one; ``last``: no attempt is left (botocore's standard retry mode then marks
    any error so, and says it in the message)."""

    stripped = content.strip()
    if status >= 500 and (not stripped or stripped.startswith(b"<html>")):
        # A proxy's or load balancer's answer: botocore names it by its status.
        body = {"__type": str(status), "message": http.client.responses.get(status, "")}
    else:
        try:
            body = json.loads(content.decode("utf-8")) if content else {}
        except ValueError:
            body = {"message": content.decode("utf-8", "replace")}
    if not isinstance(body, dict):
        body = {}
    code = body.get("__type", str(status))
    code = str(code).split(":", 1)[0].rsplit("#", 1)[-1]
    metadata: dict[str, Any] = {"HTTPStatusCode": status, "RetryAttempts": retries}
    request_id = headers.get("x-amzn-requestid")
    if request_id is not None:
        metadata["RequestId"] = request_id
    parsed = {"Error": {"Code": code, "Message": body.get("message", body.get("Message", ""))},
              "ResponseMetadata": metadata}
    if last:
        metadata["MaxAttemptsReached"] = True
    return ClientError(parsed, operation)
