"""Fixtures of the cloud unit tests: moto's in-process mock and settings that point at it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tweet_triage.cloud.aws import Aws, connect
from tweet_triage.config import Settings, load_settings
from tweet_triage.local.moto_server import evaluate_secure_transport

OPERATOR = "198.51.100.7/32"


@pytest.fixture
def settings(aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
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
