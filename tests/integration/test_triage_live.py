"""The live half end to end: X stand-in -> streamer -> Firehose (moto) -> S3 -> sync --follow ->
streaming scorer -> triage store. Every streamed tweet the profile keeps is in the store and
the Parquet table exactly once, although the scorer is SIGKILLed mid-stream and restarted.

Real servers on loopback (moto server, the X stand-in); the streamer and the follower run in
threads of the test, the scorer as the CLI a user runs (a subprocess, so it can be killed).
A tiny model folder keeps scoring cheap; a small replay keeps the test bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pyspark.sql import SparkSession

from tests.conftest import SPARK_TEST_CONF
from tests.unit.live.scorer_model import build_scorer_model
from tweet_triage.cloud.plan import StackNames
from tweet_triage.config import Settings, load_settings
from tweet_triage.data.sync import follow_bucket
from tweet_triage.live.store import TriageStore
from tweet_triage.profile import load_profile
from tweet_triage.stream.sinks import FirehoseSink, firehose_client
from tweet_triage.stream.streamer import Streamer
from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
from tweet_triage_local.xapi.server import StandIn, XStandInServer

pytestmark = pytest.mark.integration

TOKEN = "triage-live-token"
BUCKET = "tweet-triage-live-test"
REPLAY = 600  # corpus tweets; about 80% match the demo rules
RATE = 20.0  # corpus tweets/s: about 30 s of streaming
# Put in the bucket before the stream starts, so the scorer loads the model before it.
WARM_UP = {
    "data": {
        "id": "1",
        "text": "my netflix app is broken again and nobody answers, why does this keep happening",
        "created_at": "2015-01-01T00:00:00.000Z",
        "lang": "en",
    },
    "matching_rules": [{"id": "1", "tag": "brands-tech"}],
}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.25)


@pytest.fixture
def live(
    local_aws: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """Bucket and delivery stream on moto, the X stand-in, settings of the live half."""
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName=StackNames(local_aws.stack_name).delivery_stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": local_aws.raw_prefix,
            "CompressionFormat": "GZIP",
        },
    )
    standin = StandIn(
        load_tweets(BUNDLED_TWEETS)[:REPLAY],
        token=TOKEN,
        rate=RATE,
        state_dir=tmp_path / "xapi",
        keepalive_seconds=0.5,
    )
    server = XStandInServer(standin).start()
    environment = {
        "S3_BUCKET": BUCKET,
        "X_API_BASE_URL": server.url,
        "X_BEARER_TOKEN": TOKEN,
        "MISSION_PROFILE": "demo",
        "STREAM_FLUSH_SECONDS": "0.2",
        "STREAM_STATS_SECONDS": "0.5",
        "DATA_DIR": str(tmp_path / "data"),
        "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'triage.db'}",
        "TRIAGE_MODEL": str(build_scorer_model(tmp_path / "model")),
        "SPARK_MASTER": "local[2]",
        "SPARK_CONF": json.dumps(SPARK_TEST_CONF),
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    load_settings.cache_clear()
    yield {"settings": load_settings(), "standin": standin}
    server.stop()


class Scorer:
    """`tweet-triage triage score --every 2s` as a subprocess in its own process group."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.stats_file = settings.state_dir / "triage" / "scorer-stats.json"
        self.stats_file.unlink(missing_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tweet_triage", "triage", "score", "--every", "2s"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.log = log

    def stats(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.stats_file.read_text()))
        except (OSError, ValueError):
            return {}

    def wait(self, condition: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> None:
        def check() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"scorer exited: {self.log.read_text()[-3000:]}")
            return condition(self.stats())

        wait_until(check, timeout, what)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        os.killpg(self.process.pid, signal.SIGTERM)
        return self.process.wait(180)


@pytest.mark.slow
def test_every_kept_tweet_reaches_the_store_once_across_a_scorer_kill(
    live: dict[str, Any], spark: SparkSession, tmp_path: Path
) -> None:
    settings: Settings = live["settings"]
    standin: StandIn = live["standin"]
    raw = settings.data_dir / "raw"
    log = tmp_path / "scorer.log"

    stop_follow = threading.Event()
    passes: list[object] = []  # one entry per finished follower pass
    follower = threading.Thread(
        target=follow_bucket,
        args=(settings, raw, 1.0, stop_follow),
        kwargs={"on_pass": passes.append},
        daemon=True,
    )
    follower.start()
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=f"{settings.raw_prefix}2015/01/01/00/warm-up", Body=json.dumps(WARM_UP)
    )
    scorer = Scorer(settings, log)
    scorer.wait(lambda s: s.get("scored", 0) == 1, 300, "the scorer to score the warm-up tweet")

    streamer = Streamer(
        settings,
        load_profile("demo"),
        FirehoseSink(StackNames(settings.stack_name).delivery_stream, firehose_client(settings)),
        display=False,
    )
    streaming = threading.Thread(target=streamer.run, daemon=True)
    streaming.start()
    try:
        scorer.wait(lambda s: s.get("scored", 0) > 1, 240, "the first streamed tweets scored")
        assert not standin.stats_json(include_ids=False)["exhausted"], "kill mid-stream"
        scorer.kill()  # mid-stream, possibly mid-batch
        scorer = Scorer(settings, log)

        wait_until(
            lambda: (
                bool(standin.stats_json(include_ids=False)["exhausted"])
                and streamer.stats.received == standin.stats_json(include_ids=False)["tweets_sent"]
            ),
            120,
            "the stand-in to replay its corpus and the streamer to receive it",
        )
    finally:
        streamer.request_stop("test")
        streaming.join(60)
    sent = standin.stats_json()["ids_sent"]
    # Two more follower passes: the second began after the streamer's last flush.
    after_flush = len(passes) + 2
    wait_until(lambda: len(passes) >= after_flush, 60, "the follower to copy the last objects")
    stop_follow.set()
    follower.join(30)

    # What the profile keeps, from the same raw objects, by the batch stages' functions.
    from pyspark.sql import functions as F

    from tweet_triage.data import combine, filtering, process

    parsed = combine.parse_records(combine.read_raw_lines(spark, str(raw)))
    tweets = combine.deduplicate(parsed)
    assert sorted(r["id"] for r in tweets.select("id").collect()) == sorted({"1", *sent})
    compiled = filtering.compile_filter(load_profile("demo").filter)
    kept = process.add_features(
        filtering.apply_filter(tweets, compiled).where(F.col("decision") == filtering.KEPT)
    ).where(F.col("model_text") != "")
    expected = sorted(r["id"] for r in kept.select("id").collect())
    assert 0 < len(expected) < len(sent)

    store = TriageStore(settings.triage_store_url)
    scorer.wait(
        lambda _: store.count_scored() >= len(expected), 300, "the restarted scorer to catch up"
    )
    time.sleep(5)  # two more triggers: nothing more may arrive
    assert scorer.stop() == 0, log.read_text()[-3000:]

    table = spark.read.parquet(str(settings.data_dir / "scored"))
    in_table = [r["id"] for r in table.select("id").collect()]
    assert sorted(in_table) == expected  # each kept tweet once, none twice, no other
    in_store = sorted(t.id for t in store.tweets(limit=10_000))
    assert in_store == expected
    assert store.count_scored() == len(expected)
    versions = {r["model_version"] for r in table.select("model_version").distinct().collect()}
    assert len(versions) == 1 and next(iter(versions)).startswith("sha256:")
