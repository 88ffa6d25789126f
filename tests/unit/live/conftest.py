"""A migrated SQLite triage store per test, tweets as the streaming scorer writes them, and
the inbox app over it with a keyword stand-in for the model (unit tests only)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tweet_triage.live.store import ScoredRecord, TriageStore, UserView
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import hash_password, new_api_token, token_digest

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def scored(
    tweet_id: int | str,
    p: float,
    *,
    tags: tuple[str, ...] = ("jwst",),
    minutes_ago: float = 0.0,
    received: bool = True,
    threshold: float = 0.5,
    text: str | None = None,
    version: str = "1",
) -> ScoredRecord:
    arrived = NOW - timedelta(minutes=minutes_ago)
    return ScoredRecord(
        id=str(tweet_id),
        created_at=arrived - timedelta(seconds=5),
        received_at=arrived if received else None,
        scored_at=arrived + timedelta(seconds=30),
        text=text or f"tweet {tweet_id}: the telescope page does not load",
        rule_tags=list(tags),
        p_needs_support=p,
        flagged=p >= threshold,
        model_version=version,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TriageStore]:
    triage_store = TriageStore(f"sqlite:///{tmp_path / 'triage' / 'triage.db'}")
    triage_store.migrate()
    yield triage_store
    triage_store.close()


PASSWORD = "correct horse battery"


class KeywordScorer:
    """A stand-in model for the API tests: 'broken' or 'help' means needs support."""

    threshold = 0.5

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def score(self, texts: list[str]) -> list[float]:
        self.calls.append(list(texts))
        return [0.9 if ("broken" in t or "help" in t) else 0.1 for t in texts]


def login_csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the login form carries a CSRF token"
    return match.group(1)


def log_in(client: TestClient, name: str = "alice", password: str = PASSWORD) -> str:
    """Log in through the form; return the session's CSRF token from the queue page."""
    response = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": login_csrf(client)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


@pytest.fixture
def scorer() -> KeywordScorer:
    return KeywordScorer()


@pytest.fixture
def inbox_config(tmp_path: Path) -> InboxConfig:
    return InboxConfig(login_attempts=3, score_max_texts=8, reports_dir=tmp_path / "reports")


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)  # argon2 is slow on purpose: once per session


@pytest.fixture
def alice(store: TriageStore, password_hash: str) -> UserView:
    return store.add_user("alice", password_hash)


@pytest.fixture
def app(
    store: TriageStore, alice: UserView, scorer: KeywordScorer, inbox_config: InboxConfig
) -> FastAPI:
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    return create_app(store, model, inbox_config)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api_token(store: TriageStore, alice: UserView) -> str:
    token = new_api_token()
    store.add_token("alice", "tests", token_digest(token))
    return token


@pytest.fixture
def api(client: TestClient, api_token: str) -> TestClient:
    client.headers["Authorization"] = f"Bearer {api_token}"
    return client
