"""Bad input stops with one message naming the setting, before any resource is touched."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tweet_triage.cloud.aws import Aws, CloudError, connect
from tweet_triage.cloud.preflight import (
    detect_public_cidr,
    preflight,
    private_key_path,
    validated_operator_cidr,
)
from tweet_triage.cloud.resources.firehose import _role_not_assumable_yet
from tweet_triage.config import Settings, SettingsError
from tweet_triage.retry import retry_while


def test_missing_region_is_named(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="AWS_REGION"):
        preflight(settings.model_copy(update={"aws_region": None}))


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_whole_internet_ssh_is_refused(settings: Settings, cidr: str) -> None:
    with pytest.raises(SettingsError, match=f"OPERATOR_CIDR={cidr} would open SSH"):
        preflight(settings.model_copy(update={"operator_cidr": cidr}))


def test_malformed_cidr_is_named(settings: Settings) -> None:
    with pytest.raises(SettingsError, match=r"OPERATOR_CIDR=.10\.0\.0\.300/8. is not a CIDR"):
        preflight(settings.model_copy(update={"operator_cidr": "10.0.0.300/8"}))


def test_invalid_bucket_name_fails_before_any_network_call(settings: Settings) -> None:
    # An endpoint nobody listens on: reaching STS would be a CloudError, not a SettingsError.
    bad = settings.model_copy(
        update={"s3_bucket": "Bad_Bucket", "aws_endpoint_url": "http://127.0.0.1:9"}
    )
    with pytest.raises(SettingsError, match="S3_BUCKET='Bad_Bucket' is not a valid S3 bucket"):
        preflight(bad)


def test_unreachable_endpoint_names_aws_endpoint_url(settings: Settings) -> None:
    down = settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:9"})
    with pytest.raises(CloudError, match=r"cannot reach AWS_ENDPOINT_URL=http://127.0.0.1:9"):
        preflight(down)


def test_rejected_credentials_are_named(settings: Settings) -> None:
    aws = connect(settings)
    with Stubber(aws.client("sts", probe=True)) as stub:
        stub.add_client_error(
            "get_caller_identity",
            service_error_code="InvalidClientTokenId",
            service_message="The security token included in the request is invalid.",
            http_status_code=403,
        )
        with pytest.raises(CloudError, match=r"rejected the credentials.*AWS_ACCESS_KEY_ID"):
            preflight(settings, aws)


def test_other_sts_errors_are_one_line_too(settings: Settings) -> None:
    aws = connect(settings)
    with Stubber(aws.client("sts", probe=True)) as stub:
        stub.add_client_error(
            "get_caller_identity",
            service_error_code="RegionDisabledException",
            service_message="STS is not activated in this region.",
            http_status_code=403,
        )
        with pytest.raises(CloudError, match=r"AWS refused sts:GetCallerIdentity \(RegionDisab"):
            preflight(settings, aws)


def test_default_bucket_name_derives_from_account_and_region(settings: Settings, aws: Aws) -> None:
    plan = preflight(settings, aws)
    assert plan.bucket == f"tweet-triage-{plan.account_id}-us-east-1"
    assert plan.operator_cidr == "198.51.100.7/32"


class _CheckIp(BaseHTTPRequestHandler):
    answer = b"203.0.113.9\n"

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def checkip() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _CheckIp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_public_address_becomes_a_single_host_cidr(checkip: HTTPServer) -> None:
    url = f"http://127.0.0.1:{checkip.server_port}/"
    assert detect_public_cidr(url) == "203.0.113.9/32"
    _CheckIp.answer = b"<html>captive portal</html>"
    try:
        with pytest.raises(CloudError, match="set OPERATOR_CIDR"):
            detect_public_cidr(url)
    finally:
        _CheckIp.answer = b"203.0.113.9\n"


def _client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "CreateDeliveryStream")


def test_role_propagation_is_retried_with_bounded_backoff() -> None:
    not_yet = _client_error(
        "InvalidArgumentException",
        "Firehose is unable to assume role arn:aws:iam::1:role/x. Please check the role provided.",
    )
    assert _role_not_assumable_yet(not_yet)
    assert not _role_not_assumable_yet(_client_error("InvalidArgumentException", "bad prefix"))
    attempts: list[int] = []
    slept: list[float] = []

    def create() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise not_yet
        return "created"

    assert retry_while(create, _role_not_assumable_yet, "create", sleep=slept.append) == "created"
    assert slept == [1, 2]
    slept.clear()

    def never() -> str:
        raise not_yet

    with pytest.raises(ClientError):
        retry_while(never, _role_not_assumable_yet, "create", delays=(1, 2, 4), sleep=slept.append)
    assert slept == [1, 2, 4]


def test_other_errors_are_not_retried() -> None:
    slept: list[float] = []

    def fails() -> None:
        raise _client_error("InvalidArgumentException", "BufferingHints out of range")

    with pytest.raises(ClientError, match="BufferingHints"):
        retry_while(fails, _role_not_assumable_yet, "create", sleep=slept.append)
    assert slept == []


def test_aws_uses_the_configured_endpoint(settings: Settings) -> None:
    local = connect(settings.model_copy(update={"aws_endpoint_url": "http://127.0.0.1:5999"}))
    assert isinstance(local, Aws)
    assert local.client("s3").meta.endpoint_url == "http://127.0.0.1:5999"
    assert connect(settings).client("s3").meta.endpoint_url.startswith("https://")


@pytest.mark.parametrize("cidr", ["0.0.0.0/1", "10.0.0.0/8", "2001:db8::/32"])
def test_a_cidr_wider_than_the_limit_is_refused(settings: Settings, cidr: str) -> None:
    with pytest.raises(SettingsError, match=rf"OPERATOR_CIDR={cidr} opens SSH to .* wider than"):
        validated_operator_cidr(settings.model_copy(update={"operator_cidr": cidr}))


def test_a_wide_cidr_needs_an_explicit_allowance(settings: Settings) -> None:
    office = settings.model_copy(update={"operator_cidr": "10.1.0.0/16"})
    assert validated_operator_cidr(office) == "10.1.0.0/16"
    wide = settings.model_copy(update={"operator_cidr": "0.0.0.0/1"})
    allowed = wide.model_copy(update={"operator_cidr_allow_wide": True})
    assert validated_operator_cidr(allowed) == "0.0.0.0/1"
    narrower_limit = office.model_copy(update={"operator_cidr_min_prefix": 24})
    with pytest.raises(SettingsError, match="wider than /24"):
        validated_operator_cidr(narrower_limit)
    with pytest.raises(SettingsError, match="would open SSH to the whole internet"):
        validated_operator_cidr(
            allowed.model_copy(update={"operator_cidr": "0.0.0.0/0"})
        )  # never, even when wide ones are allowed


def test_local_keys_go_to_the_state_folder_never_to_ssh(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    local = settings.model_copy(
        update={
            "deployment": "local",
            "aws_endpoint_url": "http://127.0.0.1:5000",
            "ssh_key_path": None,
            "state_dir": tmp_path / "state",
        }
    )
    assert private_key_path(local) == (tmp_path / "state" / "keys" / "tweet-triage.pem")
    real_key = local.model_copy(update={"ssh_key_path": Path("~/.ssh/tweet-triage.pem")})
    with pytest.raises(SettingsError, match=r"SSH_KEY_PATH=~/.ssh/tweet-triage.pem is in ~/.ssh"):
        private_key_path(real_key)
    aws = local.model_copy(update={"deployment": "aws", "aws_endpoint_url": None})
    assert private_key_path(aws) == tmp_path / "home" / ".ssh" / "tweet-triage.pem"
