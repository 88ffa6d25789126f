"""Fixtures of the cloud unit tests: moto's in-process mock and settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tweet_triage.cloud.aws import Aws, connect
from tweet_triage.config import Settings, load_settings
from tweet_triage_local.moto_server import evaluate_secure_transport

OPERATOR = "198.51.100.7/32"
# Stack settings a developer may have exported; the tests assert the defaults.
STACK_SETTINGS = (
    "S3_BUCKET",
    "RAW_PREFIX",
    "ERROR_PREFIX",
    "FIREHOSE_BUFFER_MIB",
    "FIREHOSE_BUFFER_SECONDS",
    "FIREHOSE_COMPRESSION",
    "LOG_RETENTION_DAYS",
    "EC2_INSTANCE_TYPE",
    "TRIAGE_INSTANCE_TYPE",
    "DESTROY_KEEP_BUCKET",
)


@pytest.fixture
def settings(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in STACK_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPERATOR_CIDR", OPERATOR)
    monkeypatch.setenv("SSH_KEY_PATH", str(tmp_path / "keys" / "streamer.pem"))
    load_settings.cache_clear()
    return load_settings()


@pytest.fixture
def aws(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """Clients under mock_aws, with the stand-in's TLS evaluation of bucket policies."""
    evaluate_secure_transport(monkeypatch.setattr)
    with mock_aws():
        yield connect(settings)
