"""The streamer loses nothing: X stand-in faults, Firehose faults, SIGKILL, SIGTERM.

Real servers on loopback: the X API stand-in (tweet_triage_local.xapi.server, replaying the first
tweets of the bundled corpus with injected faults), moto server for Firehose and S3, and for
the subprocess tests a small fault proxy in front of moto. Firehose faults in the in-process
tests are injected with botocore event hooks on the streamer's own client. Every check reads
the objects Firehose wrote to S3 and compares tweet ids with what the stand-in sent.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import EndpointConnectionError

from tweet_triage.cloud.plan import StackNames
from tweet_triage.config import Settings, load_settings
from tweet_triage.profile import load_profile
from tweet_triage.retry import Backoff
from tweet_triage.stream.sinks import FirehoseSink, firehose_client, parse_sink
from tweet_triage.stream.streamer import Streamer
from tweet_triage_local.corpus.store import BUNDLED_TWEETS, load_tweets
from tweet_triage_local.xapi.server import StandIn, XStandInServer

pytestmark = pytest.mark.integration

TOKEN = "integration-test-token"
BUCKET = "tweet-triage-streamer-test"
FAST_BACKOFF = Backoff(base_seconds=0.05, cap_seconds=0.5, permanent_cap_seconds=0.5)
_CORPUS: list[dict[str, Any]] = []


def corpus(count: int) -> list[dict[str, Any]]:
    if not _CORPUS:
        _CORPUS.extend(load_tweets(BUNDLED_TWEETS))
    return _CORPUS[:count]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def delivered_ids(settings: Settings) -> list[str]:
    """Tweet ids in every object under the raw prefix (gzip or plain), duplicates kept."""
    s3 = boto3.client("s3")
    ids: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=settings.raw_prefix
    ):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            assert body.endswith(b"\n"), "every record is newline-terminated"
            ids += [json.loads(line)["data"]["id"] for line in body.splitlines()]
    return ids


@pytest.fixture
def stack(local_aws: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The bucket and delivery stream on moto, and streamer settings for fast tests."""
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
    for key, value in {
        "X_BEARER_TOKEN": TOKEN,
        "MISSION_PROFILE": "demo",
        "STREAM_FLUSH_SECONDS": "0.2",
        "STREAM_STATS_SECONDS": "0.3",
        "STREAM_STALL_SECONDS": "2",
    }.items():
        monkeypatch.setenv(key, value)
    load_settings.cache_clear()
    return load_settings()


@pytest.fixture
def x_standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., StandIn]]:
    servers: list[XStandInServer] = []

    def start(count: int, rate: float = 0.0, **faults: Any) -> StandIn:
        standin = StandIn(
            corpus(count),
            token=TOKEN,
            rate=rate,
            state_dir=tmp_path / "xapi",
            keepalive_seconds=0.5,
            faults=faults,
        )
        server = XStandInServer(standin).start()
        servers.append(server)
        monkeypatch.setenv("X_API_BASE_URL", server.url)
        load_settings.cache_clear()
        return standin

    yield start
    for server in servers:
        server.stop()


class InProcessStreamer:
    """The streamer in a thread, as a notebook would run it."""

    def __init__(self, sink: FirehoseSink | None = None) -> None:
        settings = load_settings()  # after the stand-in fixture set X_API_BASE_URL
        self.streamer = Streamer(
            settings,
            load_profile("demo"),
            sink or parse_sink("firehose", settings),
            backoff=FAST_BACKOFF,
            display=False,
        )
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.streamer.run()
        except BaseException as exc:
            self.error = exc

    def received_everything(self, standin: StandIn, timeout: float) -> None:
        def done() -> bool:
            if self.error is not None:
                raise self.error
            sent = standin.stats_json(include_ids=False)
            return bool(sent["exhausted"]) and self.streamer.stats.received == sent["tweets_sent"]

        wait_until(done, timeout, "the streamer to receive every tweet the stand-in sent")

    def stop(self) -> None:
        self.streamer.request_stop("test")
        self._thread.join(60)
        assert not self._thread.is_alive()
        if self.error is not None:
            raise self.error


def test_x_disconnects_503_malformed_line_and_stall_lose_nothing(
    stack: Settings, x_standin: Callable[..., StandIn], tweepy_waits: list[float]
) -> None:
    standin = x_standin(
        5_000,
        drop_every=1_000,
        fail_status=503,
        fail_count=1,
        malformed_after=2_500,
        stall_after=3_000,
        stall_seconds=5,  # > STREAM_STALL_SECONDS=2: the streamer must reconnect by itself
    )
    run = InProcessStreamer()
    run.received_everything(standin, timeout=120)
    run.stop()

    sent = standin.stats_json()
    ids = delivered_ids(stack)
    assert sent["tweets_sent"] > 3_000
    assert sorted(ids) == sorted(sent["ids_sent"])  # all arrived, none twice
    stats = run.streamer.stats
    assert stats.http_errors == {"503": 1}
    assert [w for w in tweepy_waits if w >= 1] == [5]  # X's back-off after a 5xx
    assert sent["stalls"] == 1 and sent["drops"] >= 3
    # One connection to start, one after each drop, one after giving up on the stall (the
    # stand-in would have resumed on the stalled connection otherwise).
    assert sent["connections"] == sent["drops"] + 2
    assert stats.connection_errors == sent["drops"] + 1
    assert stats.dead_lettered == 1
    dead = json.loads(stack.stream_paths.dead_letter_path.read_text())
    assert dead["reason"].startswith("malformed JSON")
    assert stats.spool_depth == 0 and stats.queue_depth == 0


class FirehoseFaults:
    """botocore hooks on the streamer's client: refuse some records, throttle, drop a call.

    Refused records are taken out of the request before it reaches moto and reported as
    failed in the response, as Firehose does; throttled and network-failed calls never reach
    it. The decision for a call travels in botocore's per-call `context`, so concurrent calls
    do not mix.
    """

    def __init__(self, client: Any, refuse_every: int, throttle_every: int) -> None:
        self.refuse_every, self.throttle_every = refuse_every, throttle_every
        self.calls = self.refused = self.throttled = self.network_errors = 0
        self._records = 0
        self._lock = threading.Lock()
        events = client.meta.events
        events.register("provide-client-params.firehose.PutRecordBatch", self._params)
        events.register("before-call.firehose.PutRecordBatch", self._before_call)
        events.register("after-call.firehose.PutRecordBatch", self._response)

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> dict[str, Any]:
        records = params["Records"]
        with self._lock:
            self.calls += 1
            if self.calls == 2:
                context["fault"] = "network"
                self.network_errors += 1
                return params
            if self.calls % self.throttle_every == 0:
                context["fault"] = "throttle"
                self.throttled += 1
                return params
            first = self._records
            self._records += len(records)
            refused = [i for i in range(len(records)) if (first + i + 1) % self.refuse_every == 0]
            if len(refused) == len(records):  # keep at least one record in the call
                refused = refused[1:]
            self.refused += len(refused)
        context["refused_at"] = refused
        kept = [r for i, r in enumerate(records) if i not in set(refused)]
        return {**params, "Records": kept}

    def _before_call(self, context: dict[str, Any], **_: Any) -> Any:
        if context.get("fault") == "network":
            raise EndpointConnectionError(endpoint_url="http://firehose (injected)")
        if context.get("fault") == "throttle":
            http = AWSResponse("http://firehose", 400, {}, None)
            error = {"Code": "ThrottlingException", "Message": "Rate exceeded (injected)"}
            return http, {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return None

    def _response(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        refused_at = context.get("refused_at")
        if not refused_at or "RequestResponses" not in parsed:
            return
        responses = list(parsed["RequestResponses"])
        for index in refused_at:
            failure = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "injected"}
            responses.insert(index, failure)
        parsed["RequestResponses"] = responses
        parsed["FailedPutCount"] = len(refused_at)


def test_firehose_partial_failures_throttling_and_network_errors_lose_nothing(
    stack: Settings, x_standin: Callable[..., StandIn]
) -> None:
    standin = x_standin(5_000)
    client = firehose_client(stack)
    faults = FirehoseFaults(client, refuse_every=7, throttle_every=4)
    stream = StackNames(stack.stack_name).delivery_stream
    run = InProcessStreamer(FirehoseSink(stream, client=client))
    run.received_everything(standin, timeout=60)
    wait_until(lambda: run.streamer.stats.sent == run.streamer.stats.received, 60, "delivery")
    run.stop()

    ids = delivered_ids(stack)
    assert sorted(ids) == sorted(standin.stats_json()["ids_sent"])
    stats = run.streamer.stats
    assert faults.refused > 0 and faults.throttled > 0 and faults.network_errors == 1
    assert stats.failed_calls == faults.throttled + faults.network_errors
    assert stats.retried >= faults.refused
    assert stats.api_calls == faults.calls


def test_a_429_waits_as_x_asks_and_loses_nothing(
    stack: Settings, x_standin: Callable[..., StandIn], tweepy_waits: list[float]
) -> None:
    standin = x_standin(2_000, drop_every=1_000, fail_status=429, fail_count=1)
    run = InProcessStreamer()
    run.received_everything(standin, timeout=60)
    run.stop()
    assert sorted(delivered_ids(stack)) == sorted(standin.stats_json()["ids_sent"])
    assert run.streamer.stats.http_errors == {"429": 1}
    assert [w for w in tweepy_waits if w >= 1] == [60]  # one back-off, the 429's, of 60 s


@pytest.mark.slow
def test_a_30_second_stall_is_detected_with_the_default_timeout(
    stack: Settings, x_standin: Callable[..., StandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STREAM_STALL_SECONDS")
    load_settings.cache_clear()
    settings = load_settings()
    assert settings.stream_stall_seconds == 21
    standin = x_standin(2_000, stall_after=1_000, stall_seconds=30)
    run = InProcessStreamer()
    run.received_everything(standin, timeout=90)
    run.stop()
    assert sorted(delivered_ids(settings)) == sorted(standin.stats_json()["ids_sent"])
    assert run.streamer.stats.connection_errors == 1
    # Had the streamer waited the stall out, the stand-in would have gone on sending on the
    # first connection; a second one means the streamer gave up on the silent one.
    assert standin.stats_json(include_ids=False)["connections"] == 2


# --- subprocess tests: the CLI as a user runs it ---------------------------------------------
class FirehoseProxy:
    """Forwards AWS calls to moto; while `failing`, answers PutRecordBatch with a 503."""

    def __init__(self, upstream: str) -> None:
        self.failing = False
        self.refused = 0
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                is_put = self.headers.get("X-Amz-Target", "").endswith(".PutRecordBatch")
                if is_put and proxy.failing:
                    proxy.refused += 1
                    reply = b'{"__type":"ServiceUnavailableException","message":"injected"}'
                    self.send_response(503)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                connection.request(self.command, self.path, body, dict(self.headers.items()))
                response = connection.getresponse()
                payload = response.read()
                self.send_response(response.status)
                for name, value in response.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                connection.close()

            do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _start_cli(settings: Settings, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tweet_triage", "stream", "run", *args],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=settings.state_dir.parent,
    )


def _stats(settings: Settings) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads(settings.stream_paths.stats_file.read_text()))
    return {}


def _spool_segments(settings: Settings) -> list[Path]:
    return sorted(settings.stream_paths.spool_dir.glob("*/seg-*.seg"))


def test_sigkill_then_restart_delivers_every_tweet_received_before_the_kill(
    stack: Settings, x_standin: Callable[..., StandIn], tmp_path: Path
) -> None:
    standin = x_standin(3_000)
    proxy = FirehoseProxy(stack.aws_endpoint_url or "")
    proxy.failing = True  # Firehose is down: what is received waits in the spool
    log = tmp_path / "streamer.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(_start_cli(stack, log, AWS_ENDPOINT_URL=proxy.url))
        wait_until(
            lambda: (
                standin.stats_json(include_ids=False)["exhausted"]
                and _stats(stack).get("received") == standin.stats_json(False)["tweets_sent"]
                and proxy.refused > 0
            ),
            60,
            f"the streamer to receive everything (log: {log})",
        )
        processes[0].send_signal(signal.SIGKILL)
        assert processes[0].wait(10) == -signal.SIGKILL
        assert delivered_ids(stack) == []
        assert _spool_segments(stack), "the received tweets are in the spool"

        proxy.failing = False
        processes.append(_start_cli(stack, log, AWS_ENDPOINT_URL=proxy.url))
        sent = standin.stats_json()["ids_sent"]
        wait_until(lambda: set(delivered_ids(stack)) >= set(sent), 60, f"delivery ({log})")
        processes[1].send_signal(signal.SIGTERM)
        assert processes[1].wait(60) == 0
    finally:
        proxy.close()
        for process in processes:
            if process.poll() is None:
                process.kill()
    assert set(delivered_ids(stack)) == set(sent)
    assert _spool_segments(stack) == []


def test_sigterm_stops_reading_flushes_and_exits_0_with_empty_queue_and_spool(
    stack: Settings, x_standin: Callable[..., StandIn], tmp_path: Path
) -> None:
    standin = x_standin(20_000, rate=2_000)  # still streaming when the signal comes
    log = tmp_path / "streamer.log"
    process = _start_cli(stack, log)
    try:
        wait_until(lambda: _stats(stack).get("received", 0) >= 500, 60, f"tweets ({log})")
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
    stats = _stats(stack)
    assert stats["state"] == "stopped"
    assert stats["queue_depth"] == 0 and stats["spool_depth"] == 0
    assert stats["sent"] == stats["received"] > 0
    assert _spool_segments(stack) == []
    ids = delivered_ids(stack)
    assert len(ids) == len(set(ids)) == stats["received"]
    assert set(ids) <= set(standin.stats_json()["ids_sent"])
    assert not standin.stats_json(include_ids=False)["exhausted"]  # it stopped mid-stream
    assert "stopped (SIGTERM)" in log.read_text()


def test_live_rates_are_recomputed_at_every_render_not_per_stats_interval(
    stack: Settings, x_standin: Callable[..., StandIn], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 14.5: the live table showed `in/s 0 out/s 0` until the 30 s stats interval.
    monkeypatch.setenv("STREAM_STATS_SECONDS", "3600")
    standin = x_standin(3_000, rate=300)
    run = InProcessStreamer()
    wait_until(lambda: run.streamer.stats.received >= 600, 60, "tweets flowing")
    rates = (run.streamer.stats.received_per_s, run.streamer.stats.sent_per_s)
    run.stop()
    assert rates[0] > 50 and rates[1] > 50, rates
    assert "delivered to firehose:" in run.streamer.summary()
    assert standin.stats_json(include_ids=False)["tweets_sent"] >= 600
