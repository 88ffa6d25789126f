"""Hostile and malformed requests: bounded bodies, errors that do not echo, no 5xx from input."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import KeywordScorer, log_in, login_csrf, scored
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.scoring import ModelProvider


@pytest.fixture
def small_bodies(store: TriageStore, alice, scorer: KeywordScorer) -> TestClient:
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    app = create_app(store, model, InboxConfig(max_body_bytes=2_000))
    with TestClient(app) as client:
        yield client


def test_a_body_over_the_limit_is_413_before_authentication(
    small_bodies: TestClient, scorer: KeywordScorer
) -> None:
    body = json.dumps({"texts": ["x" * 3_000]})
    response = small_bodies.post(
        "/api/score", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413  # not 401: nothing was read or parsed
    assert response.headers["content-type"] == "application/problem+json"
    assert "2,000 bytes" in response.json()["detail"]
    assert scorer.calls == []


def test_a_streamed_body_is_cut_off_at_the_limit(
    small_bodies: TestClient, api_token: str, scorer: KeywordScorer
) -> None:
    def chunks():  # no Content-Length: the body's size shows only as it arrives
        for _ in range(100):
            yield b"x" * 500

    response = small_bodies.post(
        "/api/score",
        content=chunks(),
        headers={"content-type": "application/json", "Authorization": f"Bearer {api_token}"},
    )
    assert response.status_code == 413
    assert scorer.calls == []


def test_a_form_over_the_limit_gets_an_error_page(small_bodies: TestClient) -> None:
    login_csrf(small_bodies)
    response = small_bodies.post("/login", data={"username": "alice", "password": "p" * 3_000})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="problem"' in response.text


def test_a_422_does_not_echo_the_input(api: TestClient) -> None:
    text = "y" * 10_001
    response = api.post("/api/score", json={"texts": [text]})
    assert response.status_code == 422
    assert ["body", "texts", 0] in [e["loc"] for e in response.json()["detail"]]
    assert "yyyy" not in response.text and len(response.content) < 1_000


def test_a_long_password_is_not_shown_back_to_the_browser(client: TestClient) -> None:
    password = "secret-" * 150
    response = client.post(
        "/login",
        data={"username": "alice", "password": password, "csrf_token": login_csrf(client)},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("text/html")
    assert "secret-" not in response.text
    assert "password" in response.text and 'class="problem"' in response.text


def test_browser_routes_get_error_pages_and_the_api_problem_bodies(client: TestClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert 'id="problem"' in page.text and "Content-Security-Policy" in page.headers
    api = client.get("/api/no-such-call")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json() == {"title": "Not Found", "status": 404, "detail": "Not Found"}


def test_a_bad_decision_form_names_the_field_on_a_page(
    client: TestClient, store: TriageStore
) -> None:
    store.upsert_scored([scored(1, 0.9)])
    csrf = log_in(client)
    response = client.post(
        "/decisions", data={"tweet_id": "1", "decision": "maybe", "csrf_token": csrf}
    )
    assert response.status_code == 422 and 'id="problem"' in response.text
    assert "decision" in response.text and "maybe" not in response.text
    assert store.decisions() == []


def test_since_out_of_range_is_422_naming_it(api: TestClient) -> None:
    response = api.get("/api/queue", params={"since": "9999-12-31T23:59:59-05:00"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "since"] and "out of range" in error["msg"]


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/api/decisions", '{"id": "\\ud800", "decision": "handled"}', ["body", "id"]),
        ("/api/score", '{"texts": ["fine", "bad \\udfff"]}', ["body", "texts", 1]),
    ],
)
def test_a_lone_surrogate_is_422_naming_the_field(
    api: TestClient, scorer: KeywordScorer, path: str, body: str, loc: list
) -> None:
    response = api.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == loc and "surrogate" in error["msg"]
    assert scorer.calls == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/replies/9223372036854775808/resend", {"text": "again"}),
        ("GET", "/api/replies/9223372036854775808", None),
        ("GET", "/api/saved-replies/9223372036854775808/text?tweet_id=1", None),
        ("POST", "/api/replies", {"tweet_id": "1", "text": "hi", "saved_reply_id": 2**64}),
    ],
)
def test_an_id_past_the_databases_integers_is_422_not_500(
    api: TestClient, method: str, path: str, body: dict | None
) -> None:
    response = api.request(method, path, json=body)
    assert response.status_code == 422, response.text
    assert "less than or equal to 9223372036854775807" in response.text
