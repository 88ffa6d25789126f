"""Who the inbox believes: forwarded headers only from named proxies, only its own host names.

The forwarded-header tests run the inbox under its real uvicorn server on a loopback port,
because uvicorn is where forwarded headers would be believed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import KeywordScorer, login_csrf
from tweet_triage.hosts.processes import free_port
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.server import inbox_server


def _app(store: TriageStore, scorer: KeywordScorer, **config: object):
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    return create_app(store, model, InboxConfig(login_attempts=3, **config))


def _serve(app) -> Iterator[str]:
    port = free_port()
    server = inbox_server(app, "127.0.0.1", port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the inbox server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _wrong_logins_from_rotating_addresses(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url) as browser:
        page = browser.get("/login").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        form = {"username": "alice", "password": "guess", "csrf_token": token}
        return [
            browser.post(
                "/login", data=form, headers={"X-Forwarded-For": f"203.0.113.{i}"}
            ).status_code
            for i in range(count)
        ]


@pytest.fixture
def served(store: TriageStore, alice, scorer: KeywordScorer) -> Iterator[str]:
    yield from _serve(_app(store, scorer))


@pytest.fixture
def served_behind_a_proxy(store: TriageStore, alice, scorer: KeywordScorer) -> Iterator[str]:
    yield from _serve(_app(store, scorer, trusted_proxies=("127.0.0.1",)))


def test_forwarded_for_from_a_tunnel_is_not_believed(served: str) -> None:
    assert _wrong_logins_from_rotating_addresses(served, 4) == [401, 401, 401, 429]


def test_forwarded_for_from_a_named_proxy_is_believed(served_behind_a_proxy: str) -> None:
    assert _wrong_logins_from_rotating_addresses(served_behind_a_proxy, 4) == [401] * 4


def test_only_the_inbox_host_names_are_answered(
    store: TriageStore, alice, scorer: KeywordScorer
) -> None:
    app = _app(store, scorer, allowed_hosts=("127.0.0.1", "localhost"))
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        assert client.get("/healthz").status_code == 200
        login_csrf(client)
        rebound = client.get("/login", headers={"Host": "attacker.example"})
        assert rebound.status_code == 400


def test_the_settings_name_the_proxies_and_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    from tweet_triage.config import load_settings

    monkeypatch.setenv("TRIAGE_TRUSTED_PROXIES", "10.0.0.5, 10.0.0.6")
    monkeypatch.setenv("TRIAGE_ALLOWED_HOSTS", "inbox.example.org,127.0.0.1")
    config = InboxConfig.from_settings(load_settings())
    assert config.trusted_proxies == ("10.0.0.5", "10.0.0.6")
    assert config.allowed_hosts == ("inbox.example.org", "127.0.0.1")
