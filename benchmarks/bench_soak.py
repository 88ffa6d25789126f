"""Soak: the streamer for 10 minutes at 500 tweets/s with Firehose paused for 5 of them.

X stand-in (its own process, `--rate 500`) -> `tweet-triage stream run` (its own process, as a
service runs it) -> a pausable proxy -> Firehose on moto server -> S3. From 2.5 to 7.5 minutes
the proxy answers every PutRecordBatch with 503, so the streamer keeps everything in its spool;
then Firehose returns. At the end the streamer gets SIGTERM. Reported:

- resident memory (VmRSS of the streamer, sampled every 5 s): first minute, peak, last, and the
  growth between the first and last quarter of the run (flat: a few MiB);
- the spool's peak size on disk against its cap (STREAM_SPOOL_MAX_BYTES);
- tweets the stand-in sent against distinct tweet ids in S3 (all must arrive after Firehose
  returned; duplicates, which the data stage removes, are counted);
- the seconds from SIGTERM to exit against the stop budget.

Not a test: it takes `SOAK_SECONDS` (default 600) plus set-up; run it with
`python -m benchmarks.run soak`. `SOAK_SECONDS=60` gives a quick rehearsal.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from benchmarks.bench_stream import BUCKET, StandInControl, _delivery_stream, _env

RATE = 500  # tweets per second
STREAM_NAME = "tweet-triage-tweets"  # the default stack's delivery stream


def _soak_seconds() -> float:
    return float(os.environ.get("SOAK_SECONDS", "600"))


def _corpus(path: Path, count: int) -> None:
    """`count` tweets matching the demo rules: the bundled matching tweets, repeated with
    fresh ids, so every id is unique over the whole soak."""
    from tweet_triage.profile import load_profile
    from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
    from tweet_triage_local.xapi.rules import TweetView, compile_rule

    rules = [compile_rule(r.value) for r in load_profile("demo").stream.rules]
    matching = [
        t
        for t in load_tweets(BUNDLED_TWEETS)
        if any(r.matches(TweetView.from_tweet(t)) for r in rules)
    ]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for n in range(count):
            tweet = dict(matching[n % len(matching)])
            copy = n // len(matching)
            if copy:
                tweet["id"] = f"{copy}{int(tweet['id']):019d}"
                tweet["edit_history_tweet_ids"] = [tweet["id"]]
            handle.write(json.dumps(tweet) + "\n")


def _rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _spool_bytes(spool_root: Path) -> int:
    total = 0
    for path in spool_root.rglob("seg-*"):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


def _ids_in_s3() -> list[str]:
    s3 = boto3.client("s3")
    ids: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="raw/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            ids += [json.loads(line)["data"]["id"] for line in body.splitlines()]
    return ids


def run() -> dict[str, Any]:
    from tests.integration.test_streamer_reliability import FirehoseProxy
    from tweet_triage.config import load_settings
    from tweet_triage.hosts.processes import Service, free_port
    from tweet_triage.stream.streamer import stop_budget_seconds
    from tweet_triage_local.aws import start_local_aws, stop_local_aws

    seconds = _soak_seconds()
    pause_from, pause_to = seconds / 4, seconds * 3 / 4
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as folder:
        state = Path(folder)
        endpoint = start_local_aws(state / "moto", free_port())
        _env(state, endpoint)
        os.environ["STREAM_STATS_SECONDS"] = "5"
        corpus = state / "tweets.jsonl.gz"
        _corpus(corpus, int(RATE * seconds * 1.1))
        port = free_port()
        standin = StandInControl(f"http://127.0.0.1:{port}")
        xapi = Service("soak-xapi", state)
        xapi.start(
            [sys.executable, "-m", "tweet_triage", "xapi", "serve", "--port", str(port),
             "--rate", str(RATE), "--start", "0", "--keepalive", "1", "--corpus", str(corpus)],
            ready=standin.answers,
            timeout=300,  # it loads and orders a corpus of a few hundred thousand tweets
        )  # fmt: skip
        proxy = FirehoseProxy(endpoint)
        log = state / "streamer.log"
        samples: list[dict[str, Any]] = []
        try:
            boto3.client("s3").create_bucket(Bucket=BUCKET)
            _delivery_stream(STREAM_NAME, "raw/")
            environment = {
                **os.environ,
                "X_API_BASE_URL": standin.url,
                "AWS_ENDPOINT_URL": proxy.url,
            }
            load_settings.cache_clear()
            settings = load_settings()
            budget = stop_budget_seconds(settings)
            with log.open("ab") as output:
                streamer = subprocess.Popen(
                    [sys.executable, "-m", "tweet_triage", "stream", "run", "--yes"],
                    env=environment,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < seconds:
                proxy.failing = pause_from <= elapsed < pause_to
                samples.append(
                    {
                        "t": round(elapsed, 1),
                        "rss": _rss_bytes(streamer.pid),
                        "spool_bytes": _spool_bytes(settings.stream_paths.spool_dir),
                        "firehose_paused": proxy.failing,
                    }
                )
                if streamer.poll() is not None:
                    raise RuntimeError(f"the streamer exited early; see {log}")
                time.sleep(5)
            proxy.failing = False
            stop_started = time.monotonic()
            streamer.send_signal(signal.SIGTERM)
            code = streamer.wait(budget + 60)
            stop_seconds = time.monotonic() - stop_started
            sent_ids = set(standin._call("/_standin/stats")["ids_sent"])
            ids = _ids_in_s3()
            stats = json.loads(settings.stream_paths.stats_file.read_text())
        finally:
            proxy.close()
            xapi.stop()
            stop_local_aws(state / "moto")
    rss = [s["rss"] for s in samples if s["rss"]]
    quarter = max(1, len(rss) // 4)
    return {
        "seconds": seconds,
        "rate": RATE,
        "firehose_paused_s": [pause_from, pause_to],
        "tweets_sent_by_x": len(sent_ids),
        "tweets_received": stats.get("received"),
        "distinct_ids_in_s3": len(set(ids)),
        "duplicates_in_s3": len(ids) - len(set(ids)),
        # Every tweet the streamer received is in S3; the stand-in's tweets not in S3 are the
        # ones still in the socket when the streamer stopped reading (lost as on X).
        "all_arrived": stats.get("received") == len(set(ids)) and set(ids) <= sent_ids,
        "sent_but_unread_at_stop": len(sent_ids - set(ids)),
        "dropped": stats.get("dropped"),
        "dead_lettered": stats.get("dead_lettered"),
        "spool_peak_bytes": max(s["spool_bytes"] for s in samples),
        "spool_cap_bytes": settings.stream_spool_max_bytes,
        "rss_first_minute_mib": round(max(rss[:12]) / 2**20, 1),
        "rss_peak_mib": round(max(rss) / 2**20, 1),
        "rss_last_mib": round(rss[-1] / 2**20, 1),
        "rss_growth_first_to_last_quarter_mib": round(
            (max(rss[-quarter:]) - max(rss[:quarter])) / 2**20, 1
        ),
        "stop_exit_code": code,
        "stop_seconds": round(stop_seconds, 1),
        "stop_budget_seconds": budget,
        "samples": samples,
    }


def summarise(result: dict[str, Any]) -> str:
    r = result
    return "\n".join(
        [
            "## Soak: streamer at 500 tweets/s, Firehose paused for half the run",
            "",
            "| run | tweets sent by X | distinct in S3 | duplicates | all arrived | dropped | "
            "spool peak / cap | RSS first min / peak / last | RSS growth | stop |",
            "|---|---:|---:|---:|---|---:|---|---|---:|---|",
            f"| {r['seconds'] / 60:.0f} min, paused {r['firehose_paused_s'][0] / 60:.1f}-"
            f"{r['firehose_paused_s'][1] / 60:.1f} min | {r['tweets_sent_by_x']:,} | "
            f"{r['distinct_ids_in_s3']:,} | {r['duplicates_in_s3']:,} | {r['all_arrived']} | "
            f"{r['dropped']} | {r['spool_peak_bytes'] / 2**20:.0f} MiB / "
            f"{r['spool_cap_bytes'] / 2**20:.0f} MiB | {r['rss_first_minute_mib']} / "
            f"{r['rss_peak_mib']} / {r['rss_last_mib']} MiB | "
            f"{r['rss_growth_first_to_last_quarter_mib']} MiB | exit {r['stop_exit_code']} in "
            f"{r['stop_seconds']} s (budget {r['stop_budget_seconds']:.0f} s) |",
        ]
    )
