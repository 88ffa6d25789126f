from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import mock_aws

from tweet_triage.cloud.plan import StackNames
from tweet_triage.config import Settings, load_settings
from tweet_triage.hosts.processes import free_port
from tweet_triage.stream.errors import TransientStreamError
from tweet_triage.stream.sinks import (
    FileSink,
    FirehoseSink,
    SinkConfigError,
    SinkError,
    parse_sink,
)


def _stream(name: str = "s-tweets") -> None:
    boto3.client("s3").create_bucket(Bucket="tweets-bucket")
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName=name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/r",
            "BucketARN": "arn:aws:s3:::tweets-bucket",
            "Prefix": "raw/",
        },
    )


@mock_aws
def test_firehose_sink_puts_a_batch_into_s3(aws_env: None) -> None:
    _stream()
    sink = FirehoseSink("s-tweets", boto3.client("firehose"))
    sink.check()
    assert sink.put_batch([b'{"a":1}\n', b'{"a":2}\n']) == [None, None]
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="tweets-bucket")["Contents"]]
    body = s3.get_object(Bucket="tweets-bucket", Key=keys[0])["Body"].read()
    assert body == b'{"a":1}\n{"a":2}\n'


@mock_aws
def test_missing_delivery_stream_is_a_clear_error(aws_env: None) -> None:
    with pytest.raises(SinkConfigError, match=r"does not exist.*aws-create"):
        FirehoseSink("nope", boto3.client("firehose")).check()


def test_partial_failure_reports_exactly_the_refused_records(aws_env: None) -> None:
    client = boto3.client("firehose")
    sink = FirehoseSink("s", client=client)
    with Stubber(client) as stub:
        stub.add_response(
            "put_record_batch",
            {
                "FailedPutCount": 1,
                "RequestResponses": [
                    {"RecordId": "1"},
                    {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow"},
                    {"RecordId": "3"},
                ],
            },
        )
        assert sink.put_batch([b"1\n", b"2\n", b"3\n"]) == [
            None,
            "ServiceUnavailableException: slow",
            None,
        ]


@pytest.mark.parametrize(
    ("code", "permanent"),
    [("ServiceUnavailableException", False), ("ResourceNotFoundException", True)],
)
def test_failed_calls_raise_sink_error(aws_env: None, code: str, permanent: bool) -> None:
    client = boto3.client("firehose")
    sink = FirehoseSink("s", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("put_record_batch", service_error_code=code, http_status_code=400)
        with pytest.raises(SinkError) as raised:
            sink.put_batch([b"1\n"])
    assert raised.value.code == code and raised.value.permanent is permanent


def test_file_sink_appends(tmp_path: Path) -> None:
    sink = FileSink(tmp_path / "out" / "t.jsonl")
    sink.check()
    sink.put_batch([b"a\n"])
    sink.put_batch([b"b\n", b"c\n"])
    sink.close()
    assert (tmp_path / "out" / "t.jsonl").read_bytes() == b"a\nb\nc\n"


def test_parse_sink(tmp_path: Path, aws_env: None) -> None:
    settings = load_settings()
    assert isinstance(parse_sink(f"file:{tmp_path}/x", settings), FileSink)
    stream = StackNames(settings.stack_name).delivery_stream
    assert parse_sink("firehose", settings).name == f"firehose:{stream}"
    with pytest.raises(SinkConfigError, match="'firehose' or 'file:PATH'"):
        parse_sink("kinesis", settings)


def test_unreachable_firehose_is_transient_not_a_config_error(aws_env: None) -> None:
    client = boto3.client(
        "firehose",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(TransientStreamError, match="cannot reach Firehose"):
        FirehoseSink("s", client=client).check()


def test_the_firehose_sink_takes_region_and_endpoint_from_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only AWS_REGION (the documented name) set: no botocore NoRegionError.
    for name in ("AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        aws_region="eu-west-3",
        aws_endpoint_url="http://127.0.0.1:4999",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    sink = parse_sink("firehose", settings)
    assert isinstance(sink, FirehoseSink)
    assert sink._client.meta.region_name == "eu-west-3"
    assert sink._client.meta.endpoint_url == "http://127.0.0.1:4999"
