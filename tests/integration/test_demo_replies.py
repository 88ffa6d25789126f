"""The demo's answering half on real servers: the inbox (uvicorn) with its API, the X stand-in,
a SQLite store and the outbox worker in a thread. The scripted team member answers every flagged
tweet through `POST /api/replies`; X fails two posts with 503 and refuses a restricted
conversation; every other reply reaches X exactly once, and the figures are X's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tweet_triage.config import Settings
from tweet_triage.hosts.processes import free_port, port_answers
from tweet_triage.live.outbox_worker import OutboxWorker
from tweet_triage.live.replies.x_connection import x_account, x_poster
from tweet_triage.live.store import ScoredRecord, TriageStore
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import new_api_token, token_digest
from tweet_triage.live.web.server import inbox_server
from tweet_triage_local import demo_replies
from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.x_connect import connect_standin_account
from tweet_triage_local.xapi.authors import corpus_author
from tweet_triage_local.xapi.server import XStandInServer
from tweet_triage_local.xapi.standin import DEFAULT_CLIENT_ID, StandIn

pytestmark = pytest.mark.integration

TOKEN = "app-bearer"
TEXTS = [
    "my concert tickets never arrived",
    "the app crashes after the update",
    "missed the episode, when is it on again",
    "the iphone app will not log in",
    "still no refund for the tour tickets",
    "nobody answers my emails",
]
CORPUS = [tweet_object(640436841431347200 + (i << 22), text) for i, text in enumerate(TEXTS)]


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[XStandInServer]:
    server = XStandInServer(StandIn(CORPUS, token=TOKEN, state_dir=tmp_path / "xapi")).start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TriageStore]:
    triage = TriageStore(f"sqlite:///{tmp_path / 'triage.db'}")
    triage.migrate()
    now = datetime.now(UTC)
    triage.upsert_scored(
        ScoredRecord(
            id=tweet["id"],
            created_at=now - timedelta(minutes=3),
            received_at=now - timedelta(minutes=2),
            scored_at=now - timedelta(minutes=2),
            text=tweet["text"],
            rule_tags=["brands-tech"],
            p_needs_support=0.9 - index / 100,
            flagged=True,
            model_version="1",
            author_id=corpus_author(tweet["id"])["id"],
            author_name=corpus_author(tweet["id"])["name"],
            author_handle=corpus_author(tweet["id"])["username"],
            conversation_id=tweet["id"],
        )
        for index, tweet in enumerate(CORPUS)
    )
    yield triage
    triage.close()


@pytest.fixture
def inbox(store: TriageStore) -> Iterator[str]:
    model = ModelProvider(resolve=lambda: ("1", None), load=lambda _source: None)
    server = inbox_server(create_app(store, model, InboxConfig()), "127.0.0.1", free_port())
    port = server.config.port
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not port_answers(port, "127.0.0.1") and time.monotonic() < deadline:
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def worker(standin: XStandInServer, store: TriageStore) -> Iterator[None]:
    settings = Settings(x_api_base_url=standin.url, x_client_id=DEFAULT_CLIENT_ID)
    account = x_account(settings, store)
    connect_standin_account(account, "http://127.0.0.1:8080/x/callback")
    poster = x_poster(settings, account)
    stop = threading.Event()
    loop = OutboxWorker(store, poster, poll_seconds=0.1, stop=stop)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)
    poster.close()


def test_the_scripted_team_member_answers_through_the_api(
    standin: XStandInServer, store: TriageStore, inbox: str, worker: None
) -> None:
    store.add_user(demo_replies.TEAM_MEMBER, "not-a-real-hash", "agent")
    token = new_api_token()
    store.add_token(demo_replies.TEAM_MEMBER, "demo", token_digest(token))

    def control(path: str, body: dict[str, Any]) -> Any:
        answer = requests.post(
            f"{standin.url}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )  # fmt: skip
        assert answer.ok, answer.text
        return answer.json()

    found = demo_replies.answer_top_flagged(
        store, demo_replies.Inbox(inbox, token), control, timeout=60
    )

    assert found["answered"] == len(CORPUS) and found["pending"] == 0
    assert found["failed"] == demo_replies.RESTRICTED
    assert "Reply to this conversation is not allowed" in found["failed_reasons"][0]
    assert found["sent"] == len(CORPUS) - demo_replies.RESTRICTED
    assert found["retried"] >= 1  # the 503s: checked at X, then sent again
    posts = requests.get(
        f"{standin.url}/_standin/posts", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
    ).json()["posts"]
    replied_to = [p["in_reply_to_tweet_id"] for p in posts]
    assert sorted(replied_to) == sorted(found["replied_tweets"])  # each exactly once
    assert found["delivery"]["n"] == found["sent"]
    saved = {s.shortcode: s.id for s in store.saved_replies()}
    assert (TEXTS[0], saved["/tickets"]) in found["examples"]
    assert (TEXTS[1], saved["/tech"]) in found["examples"]
    assert found["with_saved_reply"] == 5  # the last tweet gets free text
    texts = {p["in_reply_to_tweet_id"]: p["text"] for p in posts}
    first = texts[CORPUS[0]["id"]]
    assert first.startswith(f"Hi {corpus_author(CORPUS[0]['id'])['name']}, sorry about the tickets")
