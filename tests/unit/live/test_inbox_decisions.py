"""Two people deciding the same tweet: the second is told who decided first."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.unit.live.conftest import log_in, scored
from tweet_triage.live.store import TriageStore, UserView


@pytest.fixture
def bob(store: TriageStore, password_hash: str) -> UserView:
    return store.add_user("bob", password_hash)


@pytest.fixture
def bobs_browser(app: FastAPI, bob: UserView) -> Iterator[TestClient]:
    with TestClient(app) as browser:
        yield browser


def test_the_second_form_decision_is_told_who_decided_first(
    client: TestClient, bobs_browser: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([scored(1, 0.9)])
    alices, bobs = log_in(client), log_in(bobs_browser, "bob")
    form = {"tweet_id": "1", "next": "/"}
    first = client.post(
        "/decisions",
        data={**form, "decision": "handled", "csrf_token": alices},
        follow_redirects=False,
    )
    assert first.status_code == 303
    second = bobs_browser.post(
        "/decisions", data={**form, "decision": "not_for_us", "csrf_token": bobs}
    )
    assert second.status_code == 409 and 'id="problem"' in second.text
    assert "alice decided this tweet first (handled" in second.text
    assert "not saved" in second.text
    by_script = bobs_browser.post(
        "/decisions",
        data={**form, "decision": "not_for_us", "csrf_token": bobs},
        headers={"Accept": "application/json"},
    )
    assert by_script.status_code == 409 and "alice" in by_script.json()["detail"]
    assert [(d.user_name, d.decision) for d in store.decisions()] == [("alice", "handled")]


def test_a_person_may_change_their_own_decision(client: TestClient, store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.1)])
    csrf = log_in(client)
    for decision in ("needed_us", "not_for_us"):
        response = client.post(
            "/decisions",
            data={"tweet_id": "1", "decision": decision, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert response.status_code == 303
    assert [d.decision for d in store.decisions()] == ["needed_us", "not_for_us"]


def test_the_label_page_does_not_overwrite_another_answer(
    client: TestClient, bobs_browser: TestClient, store: TriageStore, alice: UserView
) -> None:
    store.upsert_scored([scored(1, 0.5)])
    bobs = log_in(bobs_browser, "bob")
    store.decide("1", alice.id, "needed_us")  # alice answered while bob's page was open
    response = bobs_browser.post(
        "/label", data={"tweet_id": "1", "answer": "no", "skip": "", "csrf_token": bobs}
    )
    assert response.status_code == 409 and "alice decided this tweet first" in response.text
    assert [d.user_name for d in store.decisions()] == ["alice"]


def test_the_api_records_and_says_whose_decision_it_replaced(
    api: TestClient, store: TriageStore, bob: UserView
) -> None:
    store.upsert_scored([scored(1, 0.9)])
    store.decide("1", bob.id, "handled")
    response = api.post("/api/decisions", json={"id": "1", "decision": "not_for_us"})
    assert response.status_code == 201
    body = response.json()
    assert body["user"] == "alice" and body["replaced"]["user"] == "bob"
    assert body["replaced"]["decision"] == "handled"
    fresh = api.post("/api/decisions", json={"id": "1", "decision": "handled"})
    assert "replaced" not in fresh.json()  # alice's own earlier decision


def test_handled_is_only_for_flagged_tweets(
    client: TestClient, api: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([scored(1, 0.1)])  # not flagged: never in the queue
    refused = api.post("/api/decisions", json={"id": "1", "decision": "handled"})
    assert refused.status_code == 422 and "needed_us" in refused.json()["detail"]
    csrf = log_in(client)
    form = client.post(
        "/decisions", data={"tweet_id": "1", "decision": "handled", "csrf_token": csrf}
    )
    assert form.status_code == 422 and 'id="problem"' in form.text
    assert store.decisions() == []
    assert api.post("/api/decisions", json={"id": "1", "decision": "needed_us"}).status_code == 201
