"""GetRecords without botocore's per-call processing: the hot call of the stream readers.

A stream reader calls GetRecords on every shard every trigger; at hundreds of shards the client's
own cost per call (about 1.4 ms of CPU in botocore: event hooks, serialising, parsing each
attribute of each record into Python types) is what limits a core. This path builds the request
itself, signs it with the client's own request signer (its credentials, refreshed as botocore
refreshes them, its region and signing name) and sends it over the client's own HTTP session (its
connection pool, proxies, TLS and timeout settings), then reads the JSON with :func:`json.loads`:
about half the CPU. Records come back in wire form (binary as base64 text, creation times as epoch
seconds), which is what the source emits anyway.

Errors keep botocore's meaning: a non-2xx answer becomes a ``ClientError`` with the code from
``__type``, so throttling, expired iterators and trimmed data are classified exactly as on the
botocore path; connection failures are botocore's own exceptions (raised by its HTTP session). A
response whose ``x-amz-crc32`` does not match its body is a transient error. The source's option
``botocoreReads`` switches back to the plain client call.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError, HTTPClientError

TARGET = "DynamoDBStreams_20120810.GetRecords"


class RawGetRecords:
    """``get_records(ShardIterator=..., Limit=...)`` with the answer of the service as plain JSON.

    Parameters
    ----------
    client
        A boto3 ``dynamodbstreams`` client; its signer, endpoint and HTTP session are used.
    """

    def __init__(self, client: Any):
        self._signer = client._request_signer
        self._session = client._endpoint.http_session
        self._url = client.meta.endpoint_url

    def get_records(self, ShardIterator: str, Limit: int = 1000) -> dict:  # noqa: N803 - boto3's names
        body = json.dumps({"ShardIterator": ShardIterator, "Limit": Limit}).encode("utf-8")
        request = AWSRequest(method="POST", url=self._url, data=body,
                             headers={"X-Amz-Target": TARGET, "Content-Type": "application/x-amz-json-1.0"})
        self._signer.sign("GetRecords", request)
        response = self._session.send(request.prepare())
        content = response.content
        expected = response.headers.get("x-amz-crc32")
        if expected is not None and int(expected) != zlib.crc32(content) & 0xFFFFFFFF:
            raise HTTPClientError(error=f"GetRecords answer failed its CRC32 check ({len(content)} bytes)")
        if response.status_code >= 300:
            raise _client_error(response.status_code, content)
        return json.loads(content)


def _client_error(status: int, content: bytes) -> ClientError:
    """The ``ClientError`` botocore raises for an error answer of the JSON protocol."""
    try:
        body = json.loads(content) if content else {}
    except ValueError:
        body = {}
    code = str(body.get("__type") or body.get("code") or ("InternalFailure" if status >= 500 else "Unknown"))
    code = code.rsplit("#", 1)[-1]
    message = body.get("message") or body.get("Message") or ""
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetRecords")
