"""tweepy pointed at another base URL through `tweet_triage.stream.x_client`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import tweepy

from tweet_triage.stream.x_client import (
    XClientConfigError,
    XStreamingClient,
    normalise_base_url,
    payload_problem,
    use_base_url,
)
from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.xapi.server import StandIn, XStandInServer

TOKEN = "client-test-token"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    corpus = [tweet_object(640436841431347200, "webb is up")]
    srv = XStandInServer(StandIn(corpus, token=TOKEN, state_dir=tmp_path)).start()
    yield srv
    srv.stop()


def test_base_url_shapes() -> None:
    assert normalise_base_url("http://127.0.0.1:8787/") == "http://127.0.0.1:8787"
    assert normalise_base_url(" https://api.x.com ") == "https://api.x.com"
    with pytest.raises(XClientConfigError, match="X_API_BASE_URL='ftp://x' is not an http"):
        normalise_base_url("ftp://x")
    with pytest.raises(XClientConfigError, match="no path"):
        normalise_base_url("https://api.x.com/2")


def test_rules_calls_reach_the_base_url(server: XStandInServer) -> None:
    client = XStreamingClient(TOKEN, base_url=server.url)
    added = client.add_rules(tweepy.StreamRule("webb", tag="t"))
    assert added.meta["summary"]["created"] == 1
    listed = client.get_rules()
    assert [(rule.value, rule.tag) for rule in listed.data] == [("webb", "t")]


def test_loopback_base_url_ignores_proxy_settings(
    server: XStandInServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = XStreamingClient(TOKEN, base_url=server.url)
    assert client.get_rules().meta["result_count"] == 0


def test_use_base_url_on_a_plain_session(server: XStandInServer) -> None:
    session = requests.Session()
    use_base_url(session, server.url)
    response = session.get(
        "https://api.twitter.com/2/tweets/search/stream/rules",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert response.status_code == 200
    assert response.url.startswith(server.url)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b'{"data":{"id":"1","text":"cut', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"data":{"text":"no id"}}', "numeric id"),
        (b'{"data":{"id":"1","text":"ok"},"matching_rules":[{"id":"2"}]}', "matching_rules"),
    ],
)
def test_payload_problems(line: bytes, problem: str) -> None:
    assert problem in (payload_problem(line) or "")


def test_valid_payloads() -> None:
    assert payload_problem(b'{"data":{"id":"1","text":"ok"},"matching_rules":[]}') is None
    assert payload_problem(b'{"errors":[{"title":"operational-disconnect"}]}') is None
