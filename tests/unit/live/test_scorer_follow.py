"""`sync --follow`: passes of the one-pass sync, only new objects, carried over a restart."""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tweet_triage.config import Settings, load_settings
from tweet_triage.data.errors import DataInputError
from tweet_triage.data.sync import FollowTotals, follow_bucket

BUCKET = "triage-follow-test"


@pytest.fixture
def bucket(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("S3_BUCKET", BUCKET)
    load_settings.cache_clear()
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        yield load_settings()


def put(key: str, body: bytes = b'{"data": {}}\n') -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=f"raw/2026/12/01/10/{key}", Body=body)


def test_each_pass_copies_only_new_objects_and_a_restart_resumes(
    bucket: Settings, tmp_path: Path
) -> None:
    dest = tmp_path / "raw"
    put("a")
    put("b")
    copied: list[int] = []
    totals = follow_bucket(
        bucket, dest, every=0.01, max_passes=2, on_pass=lambda r: copied.append(r.copied)
    )
    assert copied == [2, 0] and totals.copied == 2
    assert sorted(p.name for p in (dest / "2026/12/01/10").iterdir()) == ["a", "b"]

    put("c")  # arrives while the follower is down
    restarted = follow_bucket(bucket, dest, every=0.01, max_passes=1)
    assert restarted.copied == 1
    assert (dest / "2026/12/01/10/c").is_file()


def test_stop_ends_the_loop_between_passes(bucket: Settings, tmp_path: Path) -> None:
    stop = threading.Event()
    passes: list[int] = []

    def after_pass(_: object) -> None:
        passes.append(1)
        stop.set()

    totals = follow_bucket(bucket, tmp_path / "raw", every=3600, stop=stop, on_pass=after_pass)
    assert totals.passes == 1 and passes == [1]


def test_a_missing_bucket_on_the_first_pass_is_a_clear_error(
    aws_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("S3_BUCKET", "no-such-bucket-here")
    load_settings.cache_clear()
    with mock_aws(), pytest.raises(DataInputError, match="does not exist"):
        follow_bucket(load_settings(), tmp_path / "raw", every=1, max_passes=3)


@pytest.mark.parametrize(("args", "every"), [([], 2.5), (["--every", "7"], 7.0)])
def test_sync_follow_polls_every_triage_follow_seconds_unless_told(
    bucket: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], every: float
) -> None:
    from typer.testing import CliRunner

    from tweet_triage import cli
    from tweet_triage.data import sync

    monkeypatch.setenv("TRIAGE_FOLLOW_SECONDS", "2.5")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    load_settings.cache_clear()
    asked: list[float] = []

    def record(settings: Settings, dest: Path, every: float, stop: object) -> FollowTotals:
        asked.append(every)
        return FollowTotals()

    monkeypatch.setattr(sync, "follow_bucket", record)
    result = CliRunner().invoke(cli.app, ["sync", "--follow", *args])
    assert result.exit_code == 0, result.output
    assert asked == [every]
