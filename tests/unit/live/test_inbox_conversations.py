"""The conversation page and API: tweets and replies in time order with their delivery, the
author, ownership (claim, assign, release, resolve), notes, presence; the queue's filters,
"author replied" at the top, the SLA highlight; the label page's count and skips."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from tests.unit.live.conftest import NOW, log_in, scored
from tweet_triage.live.store import ScoredRecord, TriageStore, UserView, utc_now
from tweet_triage.live.store.schema import Presence


def said(
    tweet_id: int, p: float = 0.9, *, author: str = "42", conversation: int | None = None, **kw
) -> ScoredRecord:
    return replace(
        scored(tweet_id, p, **kw),
        author_id=author,
        author_name="Maria <b>Lopez</b>",
        author_handle="maria",
        conversation_id=str(conversation or tweet_id),
    )


@pytest.fixture
def bob(store: TriageStore, alice: UserView, password_hash: str) -> UserView:
    return store.add_user("bob", password_hash)


def _send(store: TriageStore, reply_id: int, x_id: str) -> None:
    later = NOW + timedelta(days=3650)
    claimed = store.claim_due(later)
    assert claimed is not None and claimed.id == reply_id
    store.record_sent(reply_id, x_id, later)


def test_the_conversation_page_shows_tweets_and_replies_in_time_order(
    client: TestClient, store: TriageStore, alice: UserView
) -> None:
    store.upsert_scored([said(1, minutes_ago=30, text="my stream froze")])
    sent = store.queue_reply("1", alice.id, "Reload, please", window=timedelta(minutes=30))
    failed = store.queue_reply(
        "1", alice.id, "Second try", confirm=True, window=timedelta(minutes=30)
    )
    _send(store, sent.id, "555")
    later = NOW + timedelta(days=3650)
    assert store.claim_due(later) is not None
    store.record_failed(failed.id, "403: reply not allowed", later)
    answered = utc_now() + timedelta(seconds=5)  # the author answers after the replies
    store.upsert_scored(
        [replace(said(2, conversation=1, text="still frozen"), received_at=answered)]
    )
    log_in(client)
    page = client.get("/conversations/1").text
    assert "Maria &lt;b&gt;Lopez&lt;/b&gt;" in page and "@maria" in page  # escaped
    order = [m.group(1) for m in re.finditer(r'id="(said-\d+|reply-\d+)"', page)]
    assert order == ["said-1", f"reply-{sent.id}", f"reply-{failed.id}", "said-2"]
    sent_item = page.split(f'id="reply-{sent.id}"')[1].split("</li>")[0]
    assert "sent" in sent_item and "https://x.com/i/web/status/555" in sent_item
    failed_item = page.split(f'id="reply-{failed.id}"')[1].split("</li>")[0]
    assert "403: reply not allowed" in failed_item
    assert f'action="/replies/{failed.id}/resend"' in failed_item  # the draft kept for editing
    assert 'data-tweet="2"' in page  # the reply box answers the newest tweet
    assert client.get("/conversations/404").status_code == 404


def test_the_conversation_api_answers_in_time_order_with_status_and_assignee(
    api: TestClient, store: TriageStore, alice: UserView
) -> None:
    store.upsert_scored([said(1, minutes_ago=10), said(2, conversation=1, minutes_ago=5)])
    store.claim("1", alice.id)
    reply = api.post("/api/replies", json={"tweet_id": "2", "text": "hi"}).json()
    found = api.get("/api/conversations/2").json()
    assert (found["status"], found["assignee"]) == ("assigned", "alice")
    assert [t["id"] for t in found["tweets"]] == ["1", "2"]
    assert [r["id"] for r in found["replies"]] == [reply["id"]]
    assert found["author"]["handle"] == "maria"


def test_claim_assign_release_and_resolve_from_the_page_and_the_api(
    client: TestClient, store: TriageStore, bob: UserView
) -> None:
    store.upsert_scored([said(1)])
    csrf = log_in(client)
    claimed = client.post(
        "/conversations/1/status",
        data={"csrf_token": csrf, "action": "claim"},
        follow_redirects=False,
    )
    assert claimed.status_code == 303
    assert "assigned to <strong>alice</strong>" in client.get("/conversations/1").text
    assert client.post("/conversations/1/status", data={"action": "claim"}).status_code == 403

    headers = {"X-CSRF-Token": csrf}
    moved = client.post(
        "/api/conversations/1/status", json={"action": "assign", "assignee": "bob"}, headers=headers
    )
    assert moved.json() == {"id": "1", "status": "assigned", "assignee": "bob"}
    nobody = client.post(
        "/api/conversations/1/status",
        json={"action": "assign", "assignee": "zed"},
        headers=headers,
    )
    assert nobody.status_code == 422 and "zed" in nobody.json()["detail"]
    no_name = client.post("/api/conversations/1/status", json={"action": "assign"}, headers=headers)
    assert no_name.status_code == 422
    resolved = client.post(
        "/api/conversations/1/status", json={"action": "resolve"}, headers=headers
    )
    assert resolved.json()["status"] == "resolved"
    missing = client.post("/api/conversations/9/status", json={"action": "claim"}, headers=headers)
    assert missing.status_code == 404


def test_notes_are_kept_for_the_team_and_never_sent(client: TestClient, store: TriageStore) -> None:
    store.upsert_scored([said(1)])
    csrf = log_in(client)
    added = client.post(
        "/conversations/1/notes",
        data={"csrf_token": csrf, "text": "VIP <customer>"},
        follow_redirects=False,
    )
    assert added.status_code == 303
    page = client.get("/conversations/1").text
    assert "VIP &lt;customer&gt;" in page
    by_api = client.post(
        "/api/conversations/1/notes", json={"text": "called them"}, headers={"X-CSRF-Token": csrf}
    )
    assert by_api.status_code == 201 and by_api.json()["user"] == "alice"
    blank = client.post(
        "/api/conversations/1/notes", json={"text": "   "}, headers={"X-CSRF-Token": csrf}
    )
    assert blank.status_code == 422
    assert [n.text for n in store.notes("1")] == ["VIP <customer>", "called them"]
    assert store.replies_for("1") == []


def test_a_teammate_drafting_shows_on_the_page_within_the_presence_window(
    client: TestClient, app, store: TriageStore, bob: UserView
) -> None:
    store.upsert_scored([said(1)])
    alices = log_in(client)
    with TestClient(app) as other:
        bobs = log_in(other, "bob")
        beat = other.post(
            "/api/presence",
            json={"tweet_id": "1", "activity": "drafting"},
            headers={"X-CSRF-Token": bobs},
        )
        assert beat.status_code == 200 and beat.json() == {"others": []}
    seen = client.post(
        "/api/presence",
        json={"tweet_id": "1", "activity": "viewing"},
        headers={"X-CSRF-Token": alices},
    ).json()["others"]
    assert [(o["user"], o["activity"]) for o in seen] == [("bob", "drafting")]
    assert "bob is replying" in client.get("/conversations/1").text
    assert client.get("/api/presence/1").json()["others"][0]["user"] == "bob"

    with store.engine.begin() as connection:  # bob left the page: his heartbeats stopped
        connection.execute(update(Presence).values(seen_at=utc_now() - timedelta(minutes=1)))
    assert client.get("/api/presence/1").json() == {"others": []}
    assert "bob is" not in client.get("/conversations/1").text
    no_token = client.post("/api/presence", json={"tweet_id": "1", "activity": "viewing"})
    assert no_token.status_code == 403


def test_the_queue_filters_by_owner_and_puts_the_authors_answer_first(
    client: TestClient, store: TriageStore, alice: UserView, bob: UserView
) -> None:
    store.upsert_scored([said(1, 0.95, author="41"), said(2, 0.9), said(3, 0.8, author="43")])
    store.claim("3", bob.id)
    reply = store.queue_reply("2", alice.id, "Reload please", window=timedelta(minutes=30))
    _send(store, reply.id, "600")
    store.upsert_scored([said(4, 0.05, conversation=2)])  # Maria answers, unflagged
    log_in(client)
    page = client.get("/").text
    rows = re.findall(r'<article class="tweet[^"]*" id="tweet-(\d+)"', page)
    assert rows == ["4", "1", "3"]
    first = page.split('id="tweet-4"')[1].split("</article>")[0]
    assert "author replied" in first and 'class="reply-box"' in first
    assert 'class="assignee"' in page.split('id="tweet-3"')[1].split("</article>")[0]
    mine = client.get("/", params={"owner": "mine"}).text
    assert re.findall(r'id="tweet-(\d+)"', mine) == ["4"]  # alice replied, so it is hers
    unassigned = client.get("/fragments/queue", params={"owner": "unassigned"}).text
    assert re.findall(r'id="tweet-(\d+)"', unassigned) == ["1"]


def test_tweets_waiting_past_the_sla_are_highlighted(
    client: TestClient, store: TriageStore
) -> None:
    old = utc_now() - timedelta(minutes=90)
    fresh = utc_now() - timedelta(minutes=5)
    store.upsert_scored(
        [
            replace(said(1), received_at=old, scored_at=old),
            replace(said(2), received_at=fresh, scored_at=fresh),
        ]
    )
    log_in(client)
    page = client.get("/").text
    assert "breach" in page.split('id="tweet-1"')[0].rsplit("<article", 1)[1]
    assert "over SLA" in page.split('id="tweet-1"')[1].split("</article>")[0]
    assert "over SLA" not in page.split('id="tweet-2"')[1].split("</article>")[0]


def test_the_label_page_counts_only_label_answers_and_keeps_every_skip(
    client: TestClient, store: TriageStore, alice: UserView
) -> None:
    store.upsert_scored([scored(i, 0.5 + i / 1000) for i in range(1, 80)])
    store.decide("1", alice.id, "handled", source="queue")
    csrf = log_in(client)
    assert "Answers so far: 0." in client.get("/label").text
    client.post("/label", data={"tweet_id": "2", "answer": "yes", "csrf_token": csrf})
    assert "Answers so far: 1." in client.get("/label").text
    skips = ",".join(str(i) for i in range(3, 79))  # 76 skips: more than the old cap of 50
    page = client.get("/label", params={"skip": skips}).text
    assert 'data-id="79"' in page  # the only tweet neither answered nor skipped
    moved = client.post(
        "/label",
        data={"tweet_id": "79", "answer": "skip", "skip": skips, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert moved.headers["location"].endswith(skips + ",79")


def test_the_api_queue_filters_by_owner_for_the_tokens_user(
    api: TestClient, store: TriageStore, alice: UserView, bob: UserView
) -> None:
    store.upsert_scored([said(1, 0.95, author="41"), said(2, 0.9, author="43")])
    store.claim("2", alice.id)
    assert [t["id"] for t in api.get("/api/queue", params={"owner": "mine"}).json()] == ["2"]
    unassigned = api.get("/api/queue", params={"owner": "unassigned"}).json()
    assert [(t["id"], t["status"]) for t in unassigned] == [("1", "open")]
    assert api.get("/api/queue", params={"owner": "theirs"}).status_code == 422
