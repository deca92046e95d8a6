"""ClientSpec: picklable, redacted, and able to assume a role (moto STS)."""

from __future__ import annotations

import pickle

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import SecretStr

from migrator.clients import ClientSpec, error_kind
from migrator.config import parse_config
from migrator.errors import MigratorError


def spec(**kwargs):
    base = dict(endpoint_url="http://127.0.0.1:1", region="us-east-1", access_key="AKIA1",
                secret_key=SecretStr("very-secret-key"))
    base.update(kwargs)
    return ClientSpec(**base)


def test_spec_pickles_and_never_shows_the_secret():
    s = spec(session_token=SecretStr("token-value"))
    assert pickle.loads(pickle.dumps(s)) == s
    for text in (repr(s), str(s), s.describe()):
        assert "very-secret-key" not in text and "token-value" not in text
    assert s.describe() == "http://127.0.0.1:1"


def test_spec_from_config():
    config = parse_config({
        "source": {"type": "dynamodb", "table": "src", "endpoint": {"host": "localhost", "port": 8000},
                   "credentials": {"accessKey": "AKIA1", "secretKey": "sk",
                                   "assumeRole": {"arn": "arn:aws:iam::1:role/r", "sessionName": "s1"}}},
        "target": {"type": "dynamodb", "region": "eu-west-1"},
    })
    s = ClientSpec.from_config(config.source)
    assert (s.endpoint_url, s.access_key, s.role_arn, s.role_session_name) == (
        "http://localhost:8000", "AKIA1", "arn:aws:iam::1:role/r", "s1")
    t = ClientSpec.from_config(config.target, max_connections=7)
    assert t.access_key is None and t.region == "eu-west-1" and t.max_connections == 7
    assert t.describe() == "AWS eu-west-1"


def test_static_credentials_reach_the_client():
    client = spec().dynamodb()
    creds = client._request_signer._credentials
    assert creds.access_key == "AKIA1" and creds.secret_key == "very-secret-key"
    assert client.meta.region_name == "us-east-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"


def test_endpoint_without_region_gets_a_default_and_aws_without_region_fails_clearly(environment):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        environment.pop(name, None)
    environment["AWS_CONFIG_FILE"] = "/nonexistent"
    assert spec(region=None).dynamodb().meta.region_name == "us-east-1"
    with pytest.raises(MigratorError, match="no AWS region for AWS .default region.: set region"):
        spec(region=None, endpoint_url=None).dynamodb()


def test_assume_role_gets_temporary_credentials_from_sts(environment):
    moto = pytest.importorskip("moto")
    environment["AWS_ACCESS_KEY_ID"] = "testing"
    environment["AWS_SECRET_ACCESS_KEY"] = "testing"
    with moto.mock_aws():
        s = spec(endpoint_url=None, access_key=None, secret_key=None,
                 role_arn="arn:aws:iam::123456789012:role/migrator", role_session_name="mig")
        client = s.dynamodb()
        creds = client._request_signer._credentials.get_frozen_credentials()
        assert creds.access_key != "testing" and creds.token  # temporary credentials from AssumeRole
        client.create_table(TableName="roled", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        assert client.list_tables()["TableNames"] == ["roled"]


def error(code, status=400):
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize("exc, kind", [
    (error("ProvisionedThroughputExceededException"), "throttle"),
    (error("ThrottlingException"), "throttle"),
    (error("RequestLimitExceeded"), "throttle"),
    (error("InternalServerError", 500), "transient"),
    (error("SomethingNew", 503), "transient"),
    (EndpointConnectionError(endpoint_url="http://x"), "transient"),
    (error("ValidationException"), "fatal"),
    (error("AccessDeniedException"), "fatal"),
    (ValueError("bug"), "fatal"),
])
def test_error_kinds(exc, kind):
    assert error_kind(exc) == kind


def test_executor_tasks_share_one_client_per_process_and_settings():
    from migrator.clients import shared_client

    s = spec(streams_endpoint_url="http://127.0.0.1:2")
    streams = shared_client(s, "dynamodbstreams")
    assert shared_client(s, "dynamodbstreams") is streams and streams.meta.endpoint_url == "http://127.0.0.1:2"
    assert shared_client(s, "dynamodb").meta.endpoint_url == "http://127.0.0.1:1"
    assert shared_client(spec(region="eu-west-1"), "dynamodbstreams") is not streams
