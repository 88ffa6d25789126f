"""tweepy's StreamingClient (through x_client) against `tweet-triage xapi serve` in a subprocess."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import tweepy

from tweet_triage.config import load_settings
from tweet_triage.hosts.processes import Service, free_port
from tweet_triage.stream.x_client import XStreamingClient
from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.xapi.service import _answers, start_local_xapi, stop_local_xapi

pytestmark = pytest.mark.integration

TOKEN = "integration-token-456"
TEXTS = [
    "James Webb telescope launches today #JWST",  # webb, jwst
    "RT @NASAWebb: Webb unfolds its mirror #JWST",  # webb (a retweet: not jwst)
    "Hubble turns 30 and still works",
    "@NASA when does Webb reach L2?",  # webb
    "webbing straps for sale",
    "#jwst first image is stunning",  # jwst
    "the webb team answers questions http://t.co/x1",  # webb
    "nothing to see here",
]
CORPUS = [tweet_object(640436841431347200 + (i << 22), text) for i, text in enumerate(TEXTS)]
RULES = [
    tweepy.StreamRule("webb", tag="telescope"),
    tweepy.StreamRule("#jwst -is:retweet", tag="jwst"),
]
EXPECTED = [
    (CORPUS[0]["id"], {"telescope", "jwst"}),
    (CORPUS[1]["id"], {"telescope"}),
    (CORPUS[3]["id"], {"telescope"}),
    (CORPUS[5]["id"], {"jwst"}),
    (CORPUS[6]["id"], {"telescope"}),
]


@dataclass
class StandInProcess:
    url: str
    service: Service

    def control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if body is None:
            response = requests.get(f"{self.url}{path}", headers=headers, timeout=5)
        else:
            response = requests.post(f"{self.url}{path}", json=body, headers=headers, timeout=5)
        response.raise_for_status()
        return dict(response.json())


def _serve_command(port: int, corpus: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tweet_triage",
        "xapi",
        "serve",
        "--port",
        str(port),
        "--rate",
        "0",
        "--keepalive",
        "0.2",
        "--corpus",
        str(corpus),
        *extra,
    ]


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "tweets.jsonl.gz"
    path.write_bytes(gzip.compress("".join(json.dumps(t) + "\n" for t in CORPUS).encode()))
    return path


@pytest.fixture
def standin(tmp_path: Path, corpus_file: Path) -> Iterator[StandInProcess]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = Service("xapi-test", tmp_path / "state")
    env = {
        "PATH": "/usr/bin:/bin",
        "X_BEARER_TOKEN": TOKEN,
        "TT_STATE_DIR": str(tmp_path / "state"),
        "TT_IGNORE_DOTENV": "1",
    }
    service.start(_serve_command(port, corpus_file), ready=lambda: _answers(url, TOKEN), env=env)
    yield StandInProcess(url, service)
    service.stop()


class Collector(XStreamingClient):
    """Collects payloads; disconnects once the stand-in says its corpus is exhausted."""

    def __init__(self, standin: StandInProcess, **kwargs: Any) -> None:
        super().__init__(TOKEN, base_url=standin.url, **kwargs)
        self.standin = standin
        self.received: list[tuple[str, set[str]]] = []
        self.malformed: list[str] = []
        self.connects = 0

    def on_connect(self) -> None:
        self.connects += 1

    def on_response(self, response: tweepy.StreamResponse) -> None:
        self.received.append((str(response.data.id), {r.tag for r in response.matching_rules}))

    def on_keep_alive(self) -> None:
        if self.standin.control("/_standin/stats?ids=false")["exhausted"]:
            self.disconnect()

    def on_malformed_line(self, raw_data: bytes | str, problem: str) -> None:
        self.malformed.append(problem)

    def run(self) -> None:
        """Stream in a thread, failing the test rather than hanging if it never ends."""
        thread = self.filter(threaded=True, tweet_fields=["created_at", "entities"])
        thread.join(timeout=60)
        if thread.is_alive():
            self.disconnect()
            pytest.fail("the stream did not reach the end of the corpus within 60 s")


def test_tweepy_adds_rules_and_receives_exactly_the_matching_tweets(
    standin: StandInProcess,
) -> None:
    client = Collector(standin)
    added = client.add_rules(RULES)
    assert added.meta["summary"]["created"] == 2
    client.run()
    assert client.received == EXPECTED
    assert standin.control("/_standin/stats")["ids_sent"] == [i for i, _ in EXPECTED]


def test_invalid_rule_is_rejected_at_add_time(standin: StandInProcess) -> None:
    client = Collector(standin)
    response = client.add_rules(tweepy.StreamRule("-is:retweet lang:en"))
    assert response.data is None
    assert response.errors[0]["title"] == "UnprocessableEntity"
    assert response.meta["summary"] == {"created": 0, "not_created": 1, "valid": 0, "invalid": 1}


def test_tweepy_reconnects_after_drops_and_loses_nothing(standin: StandInProcess) -> None:
    standin.control("/_standin/faults", {"drop_every": 2})
    client = Collector(standin)
    client.add_rules(RULES)
    client.run()
    assert client.received == EXPECTED
    assert client.connects == 3
    assert standin.control("/_standin/stats?ids=false")["drops"] == 2


def test_tweepy_retries_after_503(standin: StandInProcess, tweepy_waits: list[float]) -> None:
    standin.control("/_standin/faults", {"fail_status": 503, "fail_count": 1})
    client = Collector(standin)
    client.add_rules(RULES)
    client.run()
    assert [w for w in tweepy_waits if w >= 1] == [5]  # tweepy waits 5 s after a 5xx
    assert client.received == EXPECTED
    assert standin.control("/_standin/stats?ids=false")["refused"] == {"fault_503": 1}


def test_429_fault_at_the_http_level(standin: StandInProcess) -> None:
    # tweepy backs off 60 s after a 429, so the answer itself is checked here
    Collector(standin).add_rules(RULES)
    standin.control("/_standin/faults", {"fail_status": 429, "fail_count": 1})
    url = f"{standin.url}/2/tweets/search/stream"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    refused = requests.get(url, headers=headers, timeout=5)
    assert refused.status_code == 429
    assert refused.json()["title"] == "Too Many Requests"
    with requests.get(url, headers=headers, stream=True, timeout=5) as accepted:
        assert accepted.status_code == 200


def test_second_client_gets_too_many_connections(standin: StandInProcess) -> None:
    first = Collector(standin)
    first.add_rules(RULES)
    standin.control("/_standin/replay", {"rate": 1})  # keep the first connection busy
    thread = first.filter(threaded=True)
    try:
        for _ in range(50):
            if standin.control("/_standin/stats?ids=false")["connected"]:
                break
            threading.Event().wait(0.1)
        second = requests.get(
            f"{standin.url}/2/tweets/search/stream",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert second.status_code == 429
        assert second.json()["connection_issue"] == "TooManyConnections"
    finally:
        first.disconnect()
        thread.join(timeout=10)


def test_malformed_line_is_skipped_by_x_client(standin: StandInProcess) -> None:
    standin.control("/_standin/faults", {"malformed_after": 2})
    client = Collector(standin)
    client.add_rules(RULES)
    client.run()
    assert client.received == EXPECTED  # nothing lost around the bad line
    assert len(client.malformed) == 1 and client.malformed[0].startswith("not JSON")


def test_serve_refuses_a_missing_or_corrupt_corpus(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(b"this is not gzip")
    for path, message in ((tmp_path / "absent.jsonl.gz", "is missing"), (corrupt, "is corrupt")):
        result = subprocess.run(
            _serve_command(free_port(), path),
            env={
                "PATH": "/usr/bin:/bin",
                "X_BEARER_TOKEN": TOKEN,
                "TT_IGNORE_DOTENV": "1",
                "TT_STATE_DIR": str(tmp_path / "state"),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert message in result.stderr and "corpus build" in result.stderr


def test_local_xapi_up_and_down_with_the_bundled_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("LOCAL_XAPI_PORT", str(free_port()))
    monkeypatch.setenv("LOCAL_XAPI_AUTHOR_SHARE", "0.25")
    load_settings.cache_clear()
    settings = load_settings()
    base_url = start_local_xapi(settings, rate=0, author_delay=7)
    try:
        recorded = dict(
            line.split("=", 1)
            for line in (settings.state_dir / "local-xapi.env").read_text().splitlines()
        )
        assert recorded["X_API_BASE_URL"] == base_url
        token = recorded["X_BEARER_TOKEN"]
        assert len(token) >= 32  # generated: no X_BEARER_TOKEN was configured
        assert start_local_xapi(settings) == base_url  # idempotent
        stats = requests.get(
            f"{base_url}/_standin/stats?ids=false",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        assert stats["corpus_size"] > 40_000
        assert recorded["X_CLIENT_ID"] == "tweet-triage-local"  # the inbox's OAuth app
        authors = requests.post(
            f"{base_url}/_standin/authors",
            json={},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        ).json()
        assert authors == {"share": 0.25, "delay_seconds": 7.0, "pending": 0, "answered": 0}
    finally:
        message = stop_local_xapi(settings.state_dir)
    assert message.startswith("xapi: stopped")
    assert not (settings.state_dir / "local-xapi.env").exists()


def test_serve_takes_faults_and_start_from_the_command_line(
    tmp_path: Path, corpus_file: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    service = Service("xapi-cli-test", tmp_path / "state")
    command = _serve_command(
        port, corpus_file, "--start", "3", "--fault", "drop-every=4", "--fault", "fail=503:2"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "X_BEARER_TOKEN": TOKEN,
        "TT_IGNORE_DOTENV": "1",
        "TT_STATE_DIR": str(tmp_path / "state"),
    }
    service.start(command, ready=lambda: _answers(url, TOKEN), env=env)
    try:
        stats = StandInProcess(url, service).control("/_standin/stats")
        assert stats["position"] == 3
        assert stats["faults"]["drop_every"] == 4
        assert (stats["faults"]["fail_status"], stats["faults"]["fail_count"]) == (503, 2)
    finally:
        service.stop()
    assert "X API stand-in stopped at tweet #3" in service.log_file.read_text()
