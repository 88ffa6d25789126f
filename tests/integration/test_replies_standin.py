"""Answering on X end to end on the real pieces: the X stand-in's HTTP server, the triage store
on SQLite and on a real PostgreSQL, and the outbox worker, with the account connected through
the OAuth flow.

Each reply is counted at the stand-in (`GET /_standin/posts`), so "exactly once" is what X saw.
The author's answer comes off the stand-in's filtered stream (a rule for the account's
mentions, the author expansion) and enters the store through `upsert_scored` with the fields
the scorer extracts: the Spark scorer itself is left out (its micro-batches take tens of
seconds; tests/integration/test_triage_live.py runs it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tweet_triage.config import Settings
from tweet_triage.live.outbox_worker import drain
from tweet_triage.live.replies.outbox import ReplyStatus
from tweet_triage.live.replies.x_connection import ConnectedPoster, x_account, x_poster
from tweet_triage.live.store import ScoredRecord, TriageStore, UserView
from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.x_connect import connect_standin_account
from tweet_triage_local.xapi.authors import corpus_author, with_conversation
from tweet_triage_local.xapi.server import XStandInServer
from tweet_triage_local.xapi.standin import DEFAULT_CLIENT_ID, StandIn

pytestmark = pytest.mark.integration

TOKEN = "app-bearer"
APP = {"Authorization": f"Bearer {TOKEN}"}
REDIRECT = "http://127.0.0.1:8080/x/callback"
CORPUS = [
    tweet_object(640436841431347200 + (i << 22), f"tweet {i}: my order never arrived")
    for i in range(5)
]
WINDOW = timedelta(minutes=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = XStandInServer(StandIn(CORPUS, token=TOKEN, state_dir=tmp_path / "xapi")).start()
    yield srv
    srv.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TriageStore]:
    if request.param == "postgresql":
        triage = TriageStore(request.getfixturevalue("postgres_url"))
    else:
        triage = TriageStore(f"sqlite:///{tmp_path / 'triage.db'}")
    triage.migrate()
    now = datetime.now(UTC)
    triage.upsert_scored(
        ScoredRecord(
            id=tweet["id"],
            created_at=now - timedelta(minutes=5),
            received_at=now - timedelta(minutes=4),
            scored_at=now - timedelta(minutes=4),
            text=tweet["text"],
            rule_tags=["brands-tech"],
            p_needs_support=0.9,
            flagged=True,
            model_version="1",
            author_id=corpus_author(tweet["id"])["id"],
            author_handle=corpus_author(tweet["id"])["username"],
            author_name=corpus_author(tweet["id"])["name"],
            conversation_id=tweet["id"],
        )
        for tweet in CORPUS
    )
    yield triage
    triage.close()


@pytest.fixture
def agent(store: TriageStore) -> UserView:
    return store.add_user("maria", "not-a-real-hash", "agent")


@pytest.fixture
def poster(server: XStandInServer, store: TriageStore) -> Iterator[ConnectedPoster]:
    settings = Settings(x_api_base_url=server.url, x_client_id=DEFAULT_CLIENT_ID)
    account = x_account(settings, store)
    connect_standin_account(account, REDIRECT)
    connected = x_poster(settings, account)
    yield connected
    connected.close()


def posts_to(server: XStandInServer, tweet_id: str) -> list[dict[str, Any]]:
    listing = requests.get(f"{server.url}/_standin/posts", headers=APP, timeout=5).json()
    return [p for p in listing["posts"] if p["in_reply_to_tweet_id"] == tweet_id]


def fault(server: XStandInServer, **changes: Any) -> None:
    answer = requests.post(f"{server.url}/_standin/posting", json=changes, headers=APP, timeout=5)
    assert answer.ok, answer.text


def later(seconds: float) -> Any:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_reply_goes_out_exactly_once_and_answers_the_conversation(
    server: XStandInServer, store: TriageStore, agent: UserView, poster: ConnectedPoster
) -> None:
    tweet = CORPUS[0]["id"]
    queued = store.queue_reply(tweet, agent.id, "Sorry! DM us your order number.", window=WINDOW)
    assert queued.status is ReplyStatus.QUEUED or queued.status == "queued"
    assert drain(store, poster) == 1
    assert drain(store, poster) == 0

    sent = store.reply(queued.id)
    (post,) = posts_to(server, tweet)
    assert sent.status == "sent" and sent.x_post_id == post["id"]
    assert post["text"] == "Sorry! DM us your order number."
    assert post["username"] == "WebbTriageDemo"
    assert store.conversation(tweet).status == "replied"
    assert store.reply_counts()[ReplyStatus.SENT] == 1
    (first,) = store.first_response_times(datetime.now(UTC) - timedelta(hours=1))
    assert 4 * 60 <= first < 10 * 60  # the tweet arrived four minutes before the reply


def test_a_crash_after_x_created_the_post_is_settled_without_posting_again(
    server: XStandInServer, store: TriageStore, agent: UserView, poster: ConnectedPoster
) -> None:
    tweet = CORPUS[1]["id"]
    queued = store.queue_reply(tweet, agent.id, "We are on it.", window=WINDOW)
    claimed = store.claim_due(datetime.now(UTC))
    assert claimed is not None and claimed.id == queued.id
    assert poster.post_reply(claimed.text, claimed.tweet_id).x_post_id  # then the worker dies

    assert drain(store, poster) == 0  # still leased to the dead worker
    assert drain(store, poster, later(120)) == 1  # the lease passed: uncertain, looked up
    (post,) = posts_to(server, tweet)
    assert store.reply(queued.id).x_post_id == post["id"]


def test_rate_limited_replies_wait_for_xs_reset(
    server: XStandInServer, store: TriageStore, agent: UserView, poster: ConnectedPoster
) -> None:
    tweet = CORPUS[2]["id"]
    fault(server, rate_limited=1)
    queued = store.queue_reply(tweet, agent.id, "Looking into it now.", window=WINDOW)
    assert drain(store, poster) == 1
    held = store.reply(queued.id)
    assert held.status == "queued" and "rate-limited by X until" in str(held.error)
    window_reset = server.standin.posts._windows[server.standin.oauth.account.id]
    assert held.not_before == datetime.fromtimestamp(int(window_reset.start + 900), tz=UTC)
    assert posts_to(server, tweet) == []

    assert drain(store, poster, later(600)) == 0  # before X's reset: nothing is tried
    assert drain(store, poster, later(901)) == 1
    assert len(posts_to(server, tweet)) == 1 and store.reply(queued.id).status == "sent"


def test_xs_refusals_keep_the_draft_with_xs_reason(
    server: XStandInServer, store: TriageStore, agent: UserView, poster: ConnectedPoster
) -> None:
    restricted, deleted, first, second = (t["id"] for t in CORPUS[:4])
    fault(server, restricted=[restricted], deleted=[deleted])
    replies = {
        "restricted": store.queue_reply(restricted, agent.id, "Hello there", window=WINDOW),
        "deleted": store.queue_reply(deleted, agent.id, "Hello again", window=WINDOW),
        "first": store.queue_reply(first, agent.id, "Same words", window=WINDOW),
    }
    assert drain(store, poster) == 3
    duplicate = store.queue_reply(second, agent.id, "Same words", window=WINDOW)
    assert drain(store, poster) == 1

    refused = {name: store.reply(reply.id) for name, reply in replies.items()}
    assert refused["restricted"].status == "failed"
    assert "Reply to this conversation is not allowed" in str(refused["restricted"].error)
    assert refused["restricted"].text == "Hello there"  # the draft is kept
    assert "deleted or not visible" in str(refused["deleted"].error)
    assert refused["first"].status == "sent"
    assert "duplicate content" in str(store.reply(duplicate.id).error)

    fault(server, restricted=[])
    resent = store.resend_reply(replies["restricted"].id, agent.id, "Hello there, edited")
    assert resent.status == "queued"
    assert drain(store, poster) == 1
    (post,) = posts_to(server, restricted)
    assert post["text"] == "Hello there, edited"


def test_a_revoked_account_holds_replies_until_it_is_connected_again(
    server: XStandInServer, store: TriageStore, agent: UserView, poster: ConnectedPoster
) -> None:
    tweet = CORPUS[3]["id"]
    requests.post(f"{server.url}/_standin/oauth", json={"revoke_all": True}, headers=APP, timeout=5)
    queued = store.queue_reply(tweet, agent.id, "Thanks for waiting.", window=WINDOW)
    assert drain(store, poster) == 1
    held = store.reply(queued.id)
    assert held.status == "queued" and "needs reconnecting" in str(held.error)
    assert drain(store, poster, later(61)) == 1  # still refused: held again
    assert posts_to(server, tweet) == []

    connect_standin_account(poster.account, REDIRECT)
    assert drain(store, poster, later(180)) == 1
    assert len(posts_to(server, tweet)) == 1 and store.reply(queued.id).status == "sent"


def read_stream_until_answer(server: XStandInServer) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first tweet the stand-in streams for a rule on the account's mentions."""
    rules = {"add": [{"value": "@WebbTriageDemo -is:retweet", "tag": "team-account"}]}
    added = requests.post(
        f"{server.url}/2/tweets/search/stream/rules", json=rules, headers=APP, timeout=5
    )
    assert added.ok, added.text
    params = {
        "tweet.fields": "created_at,conversation_id,author_id,in_reply_to_user_id,"
        "referenced_tweets,entities,lang",
        "expansions": "author_id",
        "user.fields": "username,name",
    }
    with requests.get(
        f"{server.url}/2/tweets/search/stream", params=params, headers=APP, stream=True,
        timeout=30,
    ) as response:  # fmt: skip
        for line in response.iter_lines():
            if line:
                payload = json.loads(line)
                return payload["data"], payload["includes"]["users"][0]
    raise AssertionError("the stream ended without the author's answer")


def test_the_authors_answer_reopens_the_conversation_at_the_top(
    server: XStandInServer, store: TriageStore, agent: UserView, poster: ConnectedPoster
) -> None:
    server.standin.authors.configure({"share": 1.0, "delay_seconds": 0})
    tweet = CORPUS[4]["id"]
    store.queue_reply(tweet, agent.id, "Could you DM us the details?", window=WINDOW)
    assert drain(store, poster) == 1
    assert store.conversation(tweet).status == "replied"

    answer, author = read_stream_until_answer(server)
    assert answer["conversation_id"] == tweet
    assert author["id"] == with_conversation(CORPUS[4])["author_id"]
    (replied_to,) = [r["id"] for r in answer["referenced_tweets"] if r["type"] == "replied_to"]
    now = datetime.now(UTC)
    store.upsert_scored(
        [
            ScoredRecord(
                id=answer["id"],
                created_at=now,
                received_at=now,
                scored_at=now,
                text=answer["text"],
                rule_tags=["team-account"],
                p_needs_support=0.05,  # however unlikely the model finds it
                flagged=False,
                model_version="1",
                author_id=answer["author_id"],
                author_name=author["name"],
                author_handle=author["username"],
                conversation_id=answer["conversation_id"],
                in_reply_to_user_id=answer["in_reply_to_user_id"],
                in_reply_to_tweet_id=replied_to,
            )
        ]
    )
    conversation = store.conversation(tweet)
    assert conversation.status == "open"
    top = store.queue(limit=10)[0]
    assert top.id == answer["id"] and top.author_replied
