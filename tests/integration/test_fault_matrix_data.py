"""Fault matrix, data rows: bad raw objects among good ones in the bucket of a real moto
server -> sync -> combine through the CLI. Every good tweet arrives in combined/, and each bad
object or record is in quarantine/ with its source and reason."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import boto3
import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from tweet_triage.cli import app
from tweet_triage.cloud.plan import StackNames, bucket_name
from tweet_triage.config import Settings, load_settings

pytestmark = pytest.mark.integration

GOOD_OBJECTS = 3
TWEETS_PER_OBJECT = 50


def payload(tweet_id: int, text: str) -> str:
    data = {"id": str(tweet_id), "text": text, "created_at": "2026-11-21T10:15:00.000Z"}
    return json.dumps({"data": data, "matching_rules": [{"id": "1", "tag": "t"}]}) + "\n"


def key(settings: Settings, name: str) -> str:
    stream = StackNames(settings.stack_name).delivery_stream
    return f"{settings.raw_prefix}2026/11/21/10/{stream}-1-{name}"


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result.output


@pytest.fixture
def data_settings(local_aws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SPARK_MASTER", "local[2]")
    monkeypatch.setenv("SPARK_CONF", '{"spark.ui.enabled": "false"}')
    load_settings.cache_clear()
    settings = load_settings()
    account = boto3.client("sts").get_caller_identity()["Account"]
    boto3.client("s3").create_bucket(Bucket=bucket_name(settings, account))
    return settings


def test_truncated_and_all_bad_objects_among_good_ones(
    data_settings: Settings, spark: SparkSession
) -> None:
    s3 = boto3.client("s3")
    bucket = s3.list_buckets()["Buckets"][0]["Name"]
    sent: set[str] = set()
    for n in range(GOOD_OBJECTS):
        ids = range(n * 1000, n * 1000 + TWEETS_PER_OBJECT)
        body = "".join(payload(i, f"good tweet number {i}") for i in ids)
        s3.put_object(
            Bucket=bucket, Key=key(data_settings, f"good-{n}"), Body=gzip.compress(body.encode())
        )
        sent |= {str(i) for i in ids}
    whole = gzip.compress("".join(payload(9000 + i, f"lost {i}") for i in range(400)).encode())
    s3.put_object(Bucket=bucket, Key=key(data_settings, "cut"), Body=whole[:300])
    all_bad = 'not json\n{"data": {"id": "x1", "text": "bad id"}}\n{"errors": []}\n'
    s3.put_object(Bucket=bucket, Key=key(data_settings, "all-bad"), Body=all_bad.encode())

    assert "5 in -> 5 out" in run("sync")
    output = run("combine")
    assert "truncated_gzip" in output

    data = data_settings.data_dir
    combined = {r.id for r in spark.read.parquet(str(data / "combined")).select("id").collect()}
    assert combined == sent
    quarantine = {
        (r.source.rsplit("-", 1)[-1].removesuffix(".gz"), r.reason)
        for r in spark.read.parquet(str(data / "quarantine")).collect()
    }
    assert quarantine == {
        ("cut", "truncated_gzip"),
        ("bad", "not_json"),
        ("bad", "bad_id"),
        ("bad", "no_tweet_object"),
    }
    summary = json.loads((data / "summaries" / "combine.json").read_text())
    assert summary["rows_out"] == len(sent)
    assert list(summary["details"]["quarantined_objects"].values()) == ["truncated_gzip"]
    assert summary["rows_in"] == summary["rows_out"] + sum(summary["reasons"].values())
