"""Replying from the inbox: POST /api/replies and its refusals (the API contract), delivery
status as the outbox moves the reply, edit and resend, saved replies filled for the author, the
suggested saved reply, the page's live count against the server's, and /metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.unit.live.conftest import NOW, log_in, scored
from tweet_triage.live.replies.x_text import counting_rules, weighted_length
from tweet_triage.live.store import ScoredRecord, TriageStore, UserView
from tweet_triage.live.web.app import WEB_DIR
from tweet_triage.live.web.suggestions import Suggestions

CONTRACT = {"id", "tweet_id", "status", "x_tweet_id", "error", "author", "created_at", "sent_at"}


def authored(tweet_id: int, p: float = 0.9, **kwargs: object) -> ScoredRecord:
    return replace(
        scored(tweet_id, p, **kwargs),  # type: ignore[arg-type]
        author_id="42",
        author_name="Maria Lopez",
        author_handle="maria",
    )


@pytest.fixture
def bob(store: TriageStore, alice: UserView, password_hash: str) -> UserView:
    return store.add_user("bob", password_hash)


def test_a_reply_is_queued_and_read_back_in_the_contract(
    api: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([authored(1)])
    sent = api.post("/api/replies", json={"tweet_id": "1", "text": "We are on it, Maria."})
    assert sent.status_code == 202
    assert sent.json()["status"] == "queued" and isinstance(sent.json()["id"], int)
    read = api.get(f"/api/replies/{sent.json()['id']}").json()
    assert set(read) >= CONTRACT
    assert (read["tweet_id"], read["status"], read["author"]) == ("1", "queued", "alice")
    assert read["x_tweet_id"] is None and read["sent_at"] is None
    assert [t.id for t in store.queue()] == []  # replied: handled, with who and when
    decision = store.latest_decision("1")
    assert decision is not None and decision.decision == "needed_us"
    assert (decision.user_name, decision.source) == ("alice", "reply")


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("a" * 281, 281),
        ("", 0),
        ("a" * 257 + " https://example.com/" + "x" * 80, 281),  # the link counts 23
        ("🚀" * 141, 282),  # an emoji counts 2
    ],
)
def test_an_empty_or_long_reply_is_422_naming_the_limit_and_the_count(
    api: TestClient, store: TriageStore, text: str, count: int
) -> None:
    store.upsert_scored([authored(1)])
    refused = api.post("/api/replies", json={"tweet_id": "1", "text": text})
    assert refused.status_code == 422
    problem = refused.json()
    assert (problem["count"], problem["limit"]) == (count, 280)
    assert "280" in problem["detail"]
    assert text[:50] not in problem["detail"] or not text  # the text is not echoed
    assert store.replies_for("1") == []


def test_a_second_reply_in_the_window_is_409_naming_who_replied_unless_confirmed(
    api: TestClient, store: TriageStore, bob: UserView, api_token: str
) -> None:
    store.upsert_scored([authored(1)])
    assert api.post("/api/replies", json={"tweet_id": "1", "text": "first"}).status_code == 202
    del api.headers["Authorization"]
    csrf = log_in(api, "bob")
    headers = {"X-CSRF-Token": csrf}
    second = api.post("/api/replies", json={"tweet_id": "1", "text": "second"}, headers=headers)
    assert second.status_code == 409
    assert second.json()["replied_by"] == "alice" and "alice" in second.json()["detail"]
    assert len(store.replies_for("1")) == 1
    confirmed = api.post(
        "/api/replies",
        json={"tweet_id": "1", "text": "second", "confirm": True},
        headers=headers,
    )
    assert confirmed.status_code == 202 and confirmed.json()["author"] == "bob"


def test_a_page_reply_needs_the_session_and_its_csrf_header(
    client: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([authored(1)])
    body = {"tweet_id": "1", "text": "hello"}
    assert client.post("/api/replies", json=body).status_code == 401
    csrf = log_in(client)
    assert client.post("/api/replies", json=body).status_code == 403
    wrong = client.post("/api/replies", json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403 and store.replies_for("1") == []
    right = client.post("/api/replies", json=body, headers={"X-CSRF-Token": csrf})
    assert right.status_code == 202
    assert client.get(f"/api/replies/{right.json()['id']}").status_code == 200  # a read: no token


def test_unknown_tweets_and_replies_are_404(api: TestClient) -> None:
    assert api.post("/api/replies", json={"tweet_id": "9", "text": "hi"}).status_code == 404
    assert api.get("/api/replies/12345").status_code == 404
    assert api.post("/api/replies/12345/resend", json={"text": "x"}).status_code == 404


def test_delivery_status_follows_the_outbox_and_a_failed_reply_is_resent_edited(
    api: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([authored(1), authored(2)])
    first = api.post("/api/replies", json={"tweet_id": "1", "text": "on it"}).json()["id"]
    second = api.post("/api/replies", json={"tweet_id": "2", "text": "dup"}).json()["id"]
    later = NOW + timedelta(days=3650)  # whatever the clock, both are due
    for _ in range(2):
        claimed = store.claim_due(later)
        assert claimed is not None
        if claimed.id == first:
            store.record_sent(first, "1999", later)
        else:
            store.record_failed(second, "403: duplicate content", later)
    sent = api.get(f"/api/replies/{first}").json()
    assert (sent["status"], sent["x_tweet_id"]) == ("sent", "1999") and sent["sent_at"]
    failed = api.get(f"/api/replies/{second}").json()
    assert (failed["status"], failed["error"]) == ("failed", "403: duplicate content")

    again = api.post(f"/api/replies/{second}/resend", json={"text": "not a duplicate"})
    assert again.status_code == 202
    assert (again.json()["status"], again.json()["text"]) == ("queued", "not a duplicate")
    not_failed = api.post(f"/api/replies/{first}/resend", json={"text": "again"})
    assert not_failed.status_code == 409 and "failed" in not_failed.json()["detail"]


def test_the_reply_form_queues_and_returns_to_the_conversation(
    client: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([authored(1)])
    csrf = log_in(client)
    refused = client.post("/replies", data={"tweet_id": "1", "text": "hi"})
    assert refused.status_code == 403
    sent = client.post(
        "/replies",
        data={"tweet_id": "1", "text": "hi", "csrf_token": csrf, "saved_reply_id": ""},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == "/conversations/1#replies"
    too_long = client.post(
        "/replies", data={"tweet_id": "1", "text": "a" * 300, "csrf_token": csrf}
    )
    assert too_long.status_code == 422 and "300" in too_long.text  # an error page for people
    assert too_long.headers["content-type"].startswith("text/html")


def test_a_saved_reply_is_filled_for_the_author_and_the_agent(
    api: TestClient, store: TriageStore, alice: UserView
) -> None:
    store.upsert_scored([authored(1)])
    saved = store.create_saved_reply(
        "/thanks", "Thanks", "Thanks {author} ({handle}), {agent} here.", alice.id
    )
    filled = api.get(f"/api/saved-replies/{saved.id}/text", params={"tweet_id": "1"}).json()
    assert filled["text"] == "Thanks Maria Lopez (@maria), alice here."
    assert api.get("/api/saved-replies/999/text", params={"tweet_id": "1"}).status_code == 404


class WordEncoder:
    """A stand-in sentence encoder: unit bag-of-words vectors over a fixed vocabulary."""

    VOCABULARY = ("stream", "broken", "video", "thanks", "love", "launch", "order", "refund")

    def __init__(self) -> None:
        self.encoded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.encoded.extend(texts)
        vectors = np.array(
            [[float(word in text.lower()) for word in self.VOCABULARY] for text in texts]
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def _history(api: TestClient, store: TriageStore, alice: UserView) -> tuple[int, int]:
    stream = store.create_saved_reply(
        "/stream", "Stream help", "Try reloading, {author}.", alice.id
    )
    refund = store.create_saved_reply("/refund", "Refunds", "Refunds take 5 days.", alice.id)
    texts = {
        1: ("the stream is broken", stream.id),
        2: ("video stream broken again", stream.id),
        3: ("where is my order refund", refund.id),
    }
    store.upsert_scored([authored(i, text=text) for i, (text, _) in texts.items()])
    for i, (_, saved_id) in texts.items():
        body = {"tweet_id": str(i), "text": f"answer {i}", "saved_reply_id": saved_id}
        assert api.post("/api/replies", json=body).status_code == 202
    return stream.id, refund.id


def test_the_suggestion_is_the_saved_reply_used_on_the_most_similar_tweets(
    app: FastAPI, api: TestClient, store: TriageStore, alice: UserView
) -> None:
    encoder = WordEncoder()
    loads: list[int] = []

    def load() -> WordEncoder:
        loads.append(1)
        return encoder

    app.state.inbox.suggestions = Suggestions(store, load)
    stream_id, refund_id = _history(api, store, alice)
    store.upsert_scored([authored(10, text="the launch stream is broken"), authored(11, text="x")])
    suggested = api.get("/api/suggestions/10").json()["saved_reply"]
    assert (suggested["id"], suggested["text"]) == (stream_id, "Try reloading, Maria Lopez.")
    store.upsert_scored([authored(12, text="my refund for the order?")])
    assert api.get("/api/suggestions/12").json()["saved_reply"]["id"] == refund_id
    assert api.get("/api/suggestions/11").json() == {"saved_reply": None}  # nothing similar
    assert loads == [1]  # the encoder is loaded once
    assert encoder.encoded.count("the stream is broken") == 1  # and each vector kept


def test_without_an_encoder_there_is_simply_no_suggestion(
    app: FastAPI, api: TestClient, store: TriageStore, alice: UserView
) -> None:
    def unloadable() -> WordEncoder:
        raise OSError("no model files")

    app.state.inbox.suggestions = Suggestions(store, unloadable)
    _history(api, store, alice)
    answer = api.get("/api/suggestions/1")
    assert answer.status_code == 200 and answer.json() == {"saved_reply": None}


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_pages_live_count_agrees_with_the_server() -> None:
    texts = [
        "hello",
        "see https://example.com/a/very/long/path?x=1, thanks",
        "日本語のテキスト",
        "👍🏽 ok 🇫🇷 and 👨‍👩‍👧",
        "visit nasa.gov/webb. or www.x.com!",
        "cafe\u0301 e\u0301",
        "mail a@b.com",
        "a" * 300,
        "",
    ]
    script = (
        "const vm = require('vm'); const fs = require('fs');"
        "const input = JSON.parse(fs.readFileSync(0, 'utf8'));"
        "const context = {}; vm.createContext(context);"
        "vm.runInContext(fs.readFileSync(input.file, 'utf8'), context);"
        "context.rules = input.rules;"
        "console.log(JSON.stringify(input.texts.map((t) => {"
        "  context.t = t; return vm.runInContext('weightedLength(t, rules)', context); })));"
    )
    payload = {"file": str(WEB_DIR / "static" / "x_text.js"), "rules": counting_rules()}
    ran = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({**payload, "texts": texts}),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(ran.stdout) == [weighted_length(t).weighted for t in texts]


def test_metrics_count_replies_by_status_and_first_response_times(
    api: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([authored(1), authored(2)])
    first = api.post("/api/replies", json={"tweet_id": "1", "text": "on it"}).json()["id"]
    api.post("/api/replies", json={"tweet_id": "2", "text": "also"})
    claimed = store.claim_due(NOW + timedelta(days=3650))
    assert claimed is not None and claimed.id == first
    store.record_sent(first, "77", NOW + timedelta(minutes=2))
    body = api.get("/metrics").text
    assert 'triage_replies_total{status="queued"} 1.0' in body
    assert 'triage_replies_total{status="sent"} 1.0' in body
    assert 'triage_replies_total{status="failed"} 0.0' in body
    assert "triage_first_response_seconds_count 1.0" in body
    assert 'triage_first_response_seconds_bucket{le="60.0"} 0.0' in body
    assert 'triage_first_response_seconds_bucket{le="120.0"} 1.0' in body
