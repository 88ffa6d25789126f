"""The data stages as a user runs them: raw Firehose objects in the bucket of a real moto
server -> sync -> combine -> filter -> process -> label -> split, through the CLI."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from tweet_triage.cli import app
from tweet_triage.cloud.plan import StackNames, bucket_name
from tweet_triage.config import CORPUS_DIR, Settings, load_settings

pytestmark = pytest.mark.integration

TWEETS_PER_OBJECT = 100
OBJECTS = 6


def firehose_key(settings: Settings, index: int) -> str:
    """Firehose's default layout: <prefix>YYYY/MM/DD/HH/<stream>-<version>-<time>-<random>."""
    hour = 10 + index // 3
    stream = StackNames(settings.stack_name).delivery_stream
    name = f"{stream}-1-2026-11-21-{hour:02d}-{index:02d}-00-{index:08x}"
    return f"{settings.raw_prefix}2026/11/21/{hour:02d}/{name}"


def stream_lines(count: int) -> list[str]:
    """Corpus tweets wrapped as the streamer stores them (payload as X sent it)."""
    with gzip.open(CORPUS_DIR / "tweets.jsonl.gz", "rt", encoding="utf-8") as corpus:
        tweets = [json.loads(line) for line in itertools.islice(corpus, count)]
    return [
        json.dumps({"data": t, "matching_rules": [{"id": "7", "tag": "demo"}]}) + "\n"
        for t in tweets
    ]


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


def test_raw_objects_in_the_bucket_become_splits(
    local_aws: Settings, spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stages get the tests' one SparkSession (spark_session's getOrCreate).
    data_dir = tmp_path / "data"
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("MISSION_PROFILE", "demo")
    monkeypatch.setenv("SPARK_MASTER", "local[2]")
    monkeypatch.setenv("SPARK_CONF", '{"spark.ui.enabled": "false"}')
    load_settings.cache_clear()
    settings = load_settings()
    assert settings.data_dir == data_dir and settings.aws_endpoint_url == local_aws.aws_endpoint_url
    account = boto3.client("sts").get_caller_identity()["Account"]
    bucket = bucket_name(settings, account)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)

    lines = stream_lines(TWEETS_PER_OBJECT * OBJECTS)
    lines[5] = "{not json\n"  # a malformed record: quarantined, the job goes on
    for index in range(OBJECTS):
        chunk = lines[index * TWEETS_PER_OBJECT : (index + 1) * TWEETS_PER_OBJECT]
        if index == OBJECTS - 1:
            chunk += lines[100:110]  # at-least-once: a batch delivered twice
        body = "".join(chunk).encode()
        s3.put_object(Bucket=bucket, Key=firehose_key(settings, index), Body=gzip.compress(body))

    assert "6 in -> 6 out" in run("sync")
    s3.put_object(Bucket=bucket, Key=firehose_key(settings, 9), Body=lines[0].encode())
    assert "7 in -> 1 out" in run("sync")  # only the new object
    run("combine")
    run("filter")
    run("process")
    run("label")  # default annotations: the bundled corpus's
    run("split", "--val-size", "0.2", "--test-size", "0.2")

    summaries = {p.stem: json.loads(p.read_text()) for p in (data_dir / "summaries").glob("*.json")}
    combine = summaries["combine"]
    assert combine["rows_in"] == TWEETS_PER_OBJECT * OBJECTS + 10 + 1
    assert combine["reasons"] == {"duplicate_id": 11, "quarantined:not_json": 1}
    assert combine["rows_out"] == TWEETS_PER_OBJECT * OBJECTS - 1
    kept = summaries["filter"]["rows_out"]
    assert 0 < kept < combine["rows_out"]
    assert summaries["filter"]["rows_in"] == combine["rows_out"]
    assert summaries["process"]["rows_in"] == kept
    labelled = summaries["label"]["rows_out"]
    assert labelled == summaries["process"]["rows_out"]  # every corpus tweet is annotated

    manifest = json.loads((data_dir / "splits" / "manifest.json").read_text())
    splits = manifest["splits"]
    assert sum(s["rows"] for s in splits.values()) == summaries["split"]["rows_out"]
    assert splits["train"]["last_created_at"] <= splits["val"]["first_created_at"]
    assert splits["val"]["last_created_at"] <= splits["test"]["first_created_at"]
    for name in ("train", "val", "test"):
        assert any((data_dir / "splits" / name).glob("*.parquet"))
        assert sum(splits[name]["needs_support"].values()) == splits[name]["rows"]
    quarantine = list((data_dir / "quarantine").glob("*.parquet"))
    assert quarantine
