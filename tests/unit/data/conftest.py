"""One local SparkSession for every data test (Spark's start-up is the main cost), and
helpers that build raw X stream payloads by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pyspark.sql import SparkSession

from tweet_triage.config import Settings
from tweet_triage.data.spark import spark_session

TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.memory": "1g",
}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = spark_session(Settings(spark_master="local[2]"), "tweet-triage-tests", TEST_CONF)
    yield session
    session.stop()


def tweet(
    tweet_id: str | int,
    text: str,
    created_at: str = "2022-01-09T01:18:13.000Z",
    **fields: Any,
) -> dict[str, Any]:
    """An X API v2 Tweet object."""
    return {
        "id": str(tweet_id),
        "text": text,
        "created_at": created_at,
        "lang": "en",
        "edit_history_tweet_ids": [str(tweet_id)],
        **fields,
    }


def payload(data: dict[str, Any], tag: str = "mission", **extra: Any) -> str:
    """One stored line: the stream payload exactly as the streamer writes it."""
    body = {"data": data, "matching_rules": [{"id": "1", "tag": tag}], **extra}
    return json.dumps(body) + "\n"
