"""Live triage: the streaming scorer's throughput and the end-to-end latency of a tweet.

1. Throughput (2 cores): the streaming scorer (`run_scorer`, availableNow) over raw objects of
   corpus tweets: parse, de-duplicate, filter, normalise, score with the model, write Parquet
   and the store; measured on a second micro-batch (the first loads the model). Side by side:
   the same tweets scored by the model alone (`Scorer.predict_proba`, no Spark), so the ratio
   is what the streaming job adds around the model.
2. Latency: X stand-in -> streamer -> Firehose (moto) -> S3 -> `sync --follow` (1 s) ->
   `triage score --every 2s` (a subprocess, as a user runs it) -> triage store, at replay
   rates of 10, 100 and 1,000 corpus tweets/s for a bounded time each. A tweet's latency is
   from the moment the stand-in sent it (sampled every 0.2 s: the streamer reads it at once)
   to the moment it is visible in the store (polled every 0.5 s). Tweets still not visible
   when the bound ends are counted, not guessed.

The model is the trained one in MODEL_DIR when there is one, else all-MiniLM-L6-v2 with an
untrained head: the same network, so the same cost.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SECONDS_PER_RATE = float(os.environ.get("TRIAGE_BENCH_SECONDS", "20"))
DRAIN_BOUND = float(os.environ.get("TRIAGE_BENCH_DRAIN_SECONDS", "240"))
RATES = (10, 100, 1000)
THROUGHPUT_TWEETS = int(os.environ.get("TRIAGE_BENCH_TWEETS", "2000"))
TOKEN = "bench-triage-token"
BUCKET = "tweet-triage-bench-triage"


def _payload(tweet: dict[str, Any]) -> str:
    return json.dumps({"data": tweet, "matching_rules": [{"id": "1", "tag": "bench"}]}) + "\n"


def bench_model(folder: Path) -> Path:
    """The trained model in MODEL_DIR when there is one, else MiniLM with a fresh head.

    Not the registry's champion: a development registry may hold the tests' tiny models.
    """
    from tweet_triage.config import load_settings
    from tweet_triage.model.folder import SENTIMENT_LABELS, ModelMeta, default_backbone

    settings = load_settings()
    if (settings.model_dir / "triage.json").is_file():
        return settings.model_dir
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    backbone = default_backbone()
    AutoTokenizer.from_pretrained(backbone).save_pretrained(folder)
    AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=3, id2label=SENTIMENT_LABELS
    ).save_pretrained(folder)
    ModelMeta(
        objective="three_class",
        threshold=0.5,
        id2label=dict(SENTIMENT_LABELS),
        needs_support_ids=[0, 1],
        max_length=128,
        backbone=backbone,
    ).save(folder)
    return folder


def scorer_throughput(root: Path, model: Path) -> dict[str, Any]:
    from tweet_triage.config import Settings
    from tweet_triage.data.spark import spark_session
    from tweet_triage.live.scorer import run_scorer
    from tweet_triage.live.store import TriageStore
    from tweet_triage.model.inference import load_scorer
    from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets

    tweets = load_tweets(BUNDLED_TWEETS)[: THROUGHPUT_TWEETS + 20]
    raw = root / "data" / "raw" / "2026" / "12" / "01"
    for hour, chunk in (("00", tweets[:20]), ("01", tweets[20:])):
        (raw / hour).mkdir(parents=True, exist_ok=True)
        body = "".join(_payload(t) for t in chunk).encode()
        (raw / hour / "object.gz").write_bytes(gzip.compress(body))
    settings = Settings(
        data_dir=root / "data",
        mission_profile="demo",
        spark_master="local[2]",
        triage_max_files_per_trigger=1,
        triage_database_url=f"sqlite:///{root / 'throughput.db'}",
        TT_STATE_DIR=root / "state",
    )
    spark = spark_session(settings, "bench-triage", {"spark.ui.enabled": "false"})
    try:
        run = run_scorer(
            settings, spark, every=None, model=str(model), store=TriageStore.from_settings(settings)
        )
    finally:
        spark.stop()
    stats = run.stats
    seconds = float(stats.last_batch_seconds or float("nan"))
    records, scored = stats.last_batch_records, stats.last_batch_scored
    kept_texts = [
        t["text"] for t in tweets[20:][: max(1, scored)]
    ]  # as many texts as the batch scored: the model's share of the work
    scorer = load_scorer(model)
    scorer.predict_proba(kept_texts[:8])  # warm, as the measured micro-batch's worker is
    started = time.perf_counter()
    scorer.predict_proba(kept_texts)
    model_seconds = time.perf_counter() - started
    return {
        "records": records,
        "scored": scored,
        "batch_seconds": round(seconds, 2),
        "records_per_s": round(records / seconds, 1),
        "scored_per_s": round(scored / seconds, 1),
        "model_only": {
            "texts": len(kept_texts),
            "seconds": round(model_seconds, 2),
            "texts_per_s": round(len(kept_texts) / model_seconds, 1),
        },
        "engine": scorer.engine,
    }


@contextmanager
def live_stack(root: Path, model: Path) -> Iterator[dict[str, Any]]:
    """moto server, bucket and delivery stream, follower thread, scorer subprocess."""
    import boto3

    from tweet_triage.config import load_settings
    from tweet_triage.live.follow import follow_bucket
    from tweet_triage.process import free_port
    from tweet_triage_local.aws import local_aws_settings, start_local_aws, stop_local_aws

    moto_state = root / "moto"
    endpoint = start_local_aws(moto_state, free_port())
    environment = {
        **local_aws_settings(endpoint),
        "TT_IGNORE_DOTENV": "1",
        "TT_STATE_DIR": str(root / "state"),
        "S3_BUCKET": BUCKET,
        "MISSION_PROFILE": "demo",
        "STREAM_FLUSH_SECONDS": "0.2",
        "DATA_DIR": str(root / "data"),
        "TRIAGE_DATABASE_URL": f"sqlite:///{root / 'live.db'}",
        "TRIAGE_MODEL": str(model),
        "SPARK_MASTER": "local[2]",
        "SPARK_CONF": json.dumps({"spark.ui.enabled": "false"}),
    }
    os.environ.update(environment)
    load_settings.cache_clear()
    settings = load_settings()
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("firehose").create_delivery_stream(
        DeliveryStreamName=settings.delivery_stream_name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": settings.raw_prefix,
            "CompressionFormat": "GZIP",
        },
    )
    stop = threading.Event()
    follower = threading.Thread(
        target=follow_bucket, args=(settings, settings.data_dir / "raw", 1.0, stop), daemon=True
    )
    follower.start()
    log = (root / "scorer.log").open("ab")
    scorer = subprocess.Popen(
        [sys.executable, "-m", "tweet_triage", "triage", "score", "--every", "2s"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield {"settings": settings, "scorer": scorer}
    finally:
        os.killpg(scorer.pid, 15)
        try:
            scorer.wait(180)
        except subprocess.TimeoutExpired:
            os.killpg(scorer.pid, 9)
        stop.set()
        follower.join(30)
        stop_local_aws(moto_state)


def _visible_ids(engine: Any) -> set[str]:
    try:
        with engine.connect() as connection:
            return {row[0] for row in connection.exec_driver_sql("SELECT id FROM scored_tweets")}
    except Exception:  # the scorer creates the table when it starts
        return set()


def _scorer_caught_up(settings: Any) -> bool:
    """The scorer's last micro-batch started after the newest raw object was synced."""
    from datetime import datetime

    raw = settings.data_dir / "raw"
    newest = max(
        (p.stat().st_mtime for p in raw.rglob("*") if p.is_file() and p.name[0] not in "._"),
        default=0.0,
    )
    try:
        stats = json.loads((settings.state_dir / "triage" / "scorer-stats.json").read_text())
        ended = datetime.fromisoformat(stats["last_batch_at"]).timestamp()
        return ended - float(stats["last_batch_seconds"]) > newest
    except (OSError, ValueError, KeyError, TypeError):
        return False


def measure_rate(settings: Any, engine: Any, tweets: list[dict[str, Any]], rate: int) -> dict:
    from tweet_triage.live.scorer import latency_percentiles
    from tweet_triage.profile import load_profile
    from tweet_triage.stream.sinks import FirehoseSink, firehose_client
    from tweet_triage.stream.streamer import Streamer
    from tweet_triage_local.xapi.server import StandIn, XStandInServer

    standin = StandIn(tweets, token=TOKEN, rate=rate, keepalive_seconds=0.5)
    server = XStandInServer(standin).start()
    os.environ.update({"X_API_BASE_URL": server.url, "X_BEARER_TOKEN": TOKEN})
    from tweet_triage.config import load_settings

    load_settings.cache_clear()
    current = load_settings()
    streamer = Streamer(
        current,
        load_profile("demo"),
        FirehoseSink(current.delivery_stream_name, firehose_client(current)),
        display=False,
    )
    sent_at: dict[str, float] = {}
    visible_at: dict[str, float] = {}
    already = _visible_ids(engine)
    thread = threading.Thread(target=streamer.run, daemon=True)
    thread.start()
    started = time.monotonic()
    exhausted_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            for tweet_id in standin.stats_json()["ids_sent"]:
                sent_at.setdefault(tweet_id, now)
            for tweet_id in _visible_ids(engine) - already:
                visible_at.setdefault(tweet_id, now)
            if standin.stats_json(include_ids=False)["exhausted"]:
                exhausted_at = exhausted_at or now
                if now - exhausted_at > 5 and _scorer_caught_up(settings):
                    break  # a micro-batch began after the newest raw object landed
            if now - started > SECONDS_PER_RATE + DRAIN_BOUND:
                break
            time.sleep(0.2)
    finally:
        streamer.request_stop("bench")
        thread.join(60)
        server.stop()
    latencies = [visible_at[i] - sent_at[i] for i in visible_at if i in sent_at]
    return {
        "rate": rate,
        "corpus_tweets": len(tweets),
        "sent": len(sent_at),
        "visible": len(visible_at),
        "latency_seconds": latency_percentiles(latencies),
        "measured_for_seconds": round(time.monotonic() - started, 1),
    }


def end_to_end_latency(root: Path, model: Path) -> dict[str, Any]:
    import boto3
    from sqlalchemy import create_engine

    from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets

    corpus = load_tweets(BUNDLED_TWEETS)
    with live_stack(root, model) as stack:
        settings = stack["settings"]
        engine = create_engine(settings.triage_store_url)
        warm = {**corpus[-1], "text": "my netflix app keeps crashing, why does nobody answer"}
        boto3.client("s3").put_object(
            Bucket=BUCKET, Key=f"{settings.raw_prefix}2015/01/01/00/warm-up", Body=_payload(warm)
        )
        deadline = time.monotonic() + 600
        while not _visible_ids(engine) and time.monotonic() < deadline:
            if stack["scorer"].poll() is not None:
                raise RuntimeError(f"the scorer exited; see {root / 'scorer.log'}")
            time.sleep(1)
        results, offset = [], 0
        for rate in RATES:
            count = int(rate * SECONDS_PER_RATE)
            results.append(measure_rate(settings, engine, corpus[offset : offset + count], rate))
            offset += count
            print(f"  rate {rate}/s: {results[-1]}", flush=True)
    return {
        "follow_every_seconds": 1.0,
        "score_every_seconds": 2.0,
        "seconds_per_rate": SECONDS_PER_RATE,
        "drain_bound_seconds": DRAIN_BOUND,
        "rates": results,
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-triage-") as folder:
        root = Path(folder)
        model = bench_model(root / "model")
        throughput = scorer_throughput(root / "throughput", model)
        print(f"  throughput: {throughput}", flush=True)
        latency = end_to_end_latency(root / "latency", model)
    return {"model": str(model), "throughput": throughput, "latency": latency}


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def summarise(result: dict[str, Any]) -> str:
    t = result["throughput"]
    m = t["model_only"]
    lines = [
        "## Live triage: streaming scorer and end-to-end latency",
        "",
        "| scorer (2 cores) | tweets | seconds | tweets/s |",
        "|---|---:|---:|---:|",
        f"| streaming scorer, one micro-batch (parse, dedupe, filter, normalise, score, "
        f"write) | {t['records']:,} raw | {t['batch_seconds']} | {t['records_per_s']:,} raw, "
        f"{t['scored_per_s']:,} scored |",
        f"| the model alone ({t['engine']}, no Spark) | {m['texts']:,} kept | {m['seconds']} | "
        f"{m['texts_per_s']:,} |",
        "",
        "| replay rate (corpus tweets/s) | sent by X | visible in the store | p50 s | p95 s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in result["latency"]["rates"]:
        lat = row["latency_seconds"]
        lines.append(
            f"| {row['rate']:,} | {row['sent']:,} | {row['visible']:,} | {_fmt(lat['p50'])} | "
            f"{_fmt(lat['p95'])} |"
        )
    lat = result["latency"]
    lines += [
        "",
        f"Latency from the stand-in sending a tweet to the tweet being in the triage store, "
        f"with `sync --follow` every {lat['follow_every_seconds']:g} s and micro-batches every "
        f"{lat['score_every_seconds']:g} s, each rate replayed for {lat['seconds_per_rate']:g} s "
        f"(bound {lat['drain_bound_seconds']:g} s more). On AWS add Firehose's buffering "
        "interval (FIREHOSE_BUFFER_SECONDS, 60 s by default).",
    ]
    return "\n".join(lines)
