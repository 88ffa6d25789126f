"""Sync against moto's in-process S3: pagination, only new objects, names by content."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tweet_triage.config import load_settings
from tweet_triage.data.errors import DataInputError
from tweet_triage.data.sync import LEDGER_NAME, raw_bucket_name, sync_raw
from tweet_triage.hosts.processes import free_port

BUCKET = "tweets-bucket"
KEY = "raw/2022/01/09/01/tweet-triage-tweets-1-2022-01-09-01-{:02d}-00-{}"


@pytest.fixture
def s3(aws_env: None):  # type: ignore[no-untyped-def]
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_copies_every_page_then_only_new_objects(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for i in range(1003):  # more than one 1,000-key page
        s3.put_object(Bucket=BUCKET, Key=f"raw/2022/01/09/02/obj-{i:04d}", Body=b"{}\n")
    s3.put_object(Bucket=BUCKET, Key=KEY.format(0, "a"), Body=gzip.compress(b'{"a": 1}\n'))
    s3.put_object(Bucket=BUCKET, Key=KEY.format(1, "b") + ".gz", Body=b'{"b": 1}\n')
    s3.put_object(Bucket=BUCKET, Key="errors/2022/x", Body=b"failed delivery")

    first = sync_raw(s3, BUCKET, "raw/", tmp_path)
    assert (first.listed, first.copied, first.gzip_objects) == (1005, 1005, 1)
    hour = tmp_path / "2022" / "01" / "09" / "01"
    gz = hour / (KEY.format(0, "a").rsplit("/", 1)[1] + ".gz")  # gzip content: '.gz' name
    plain = hour / KEY.format(1, "b").rsplit("/", 1)[1]  # plain content: no '.gz'
    assert gzip.decompress(gz.read_bytes()) == b'{"a": 1}\n'
    assert plain.read_bytes() == b'{"b": 1}\n'
    assert not (tmp_path / "errors").exists()
    assert len(json.loads((tmp_path / LEDGER_NAME).read_text())) == 1005

    s3.put_object(Bucket=BUCKET, Key=KEY.format(2, "c"), Body=b'{"c": 1}\n')
    plain.unlink()  # a lost local copy is fetched again
    again = sync_raw(s3, BUCKET, "raw/", tmp_path)
    assert (again.listed, again.copied, again.already_present) == (1006, 2, 1004)
    assert plain.is_file()


def test_missing_bucket_is_a_clear_error(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataInputError, match=r"bucket 'nope' does not exist.*aws-create"):
        sync_raw(s3, "nope", "raw/", tmp_path)


def test_bucket_name_from_the_account(s3) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings()
    assert raw_bucket_name(settings) == f"tweet-triage-123456789012-{settings.aws_region}"


def test_a_corrupt_ledger_is_a_clear_error(s3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / LEDGER_NAME).write_text('{"raw/a": {"etag": ')
    with pytest.raises(DataInputError, match=rf"{LEDGER_NAME}.*not valid JSON.*delete it"):
        sync_raw(s3, BUCKET, "raw/", tmp_path)


@pytest.mark.parametrize("bucket", ["named-bucket", None])
def test_an_unreachable_endpoint_is_one_clear_line(tmp_path: Path, bucket: str | None) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_ENDPOINT_URL": closed,
        "DATA_DIR": str(tmp_path / "data"),
        **({"S3_BUCKET": bucket} if bucket else {}),
    }
    done = subprocess.run(
        [sys.executable, "-m", "tweet_triage", "sync"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(errors) == 1 and closed in errors[0], done.stderr
