"""Roles and the admin pages: only an admin connects the X account (PKCE against the stand-in)
and keeps the saved replies; an agent gets 403 on every admin route; the banner says when
replies cannot go out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.unit.live.conftest import KeywordScorer, log_in
from tests.unit.xapi.test_xapi_writes import CLIENT_ID, REDIRECT, approve, make_server
from tweet_triage.live.replies.x_account import PendingConnect, XAccount, XOAuthEndpoints
from tweet_triage.live.store import TriageStore, UserView
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.routes import admin
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.x_link import CONNECT_SECONDS, PendingConnects
from tweet_triage_local.xapi.server import XStandInServer


@pytest.fixture
def bob(store: TriageStore, alice: UserView, password_hash: str) -> UserView:
    return store.add_user("bob", password_hash)  # the second account is an agent


@pytest.fixture
def x_server(tmp_path: Path) -> Iterator[XStandInServer]:
    server = make_server(tmp_path / "xapi")
    yield server
    server.stop()


def _connected_app(store: TriageStore, scorer: KeywordScorer, server: XStandInServer) -> FastAPI:
    endpoints = XOAuthEndpoints(
        f"{server.url}/2/oauth2/authorize", f"{server.url}/2/oauth2/token", server.url
    )
    key = Fernet.generate_key()

    def account(slot_store: TriageStore) -> XAccount:
        return XAccount(endpoints, CLIENT_ID, None, slot_store.x_token_slot(), key)

    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    return create_app(store, model, InboxConfig(x_account=account, x_redirect_uri=REDIRECT))


@pytest.fixture
def x_client(
    store: TriageStore, alice: UserView, scorer: KeywordScorer, x_server: XStandInServer
) -> Iterator[TestClient]:
    with TestClient(_connected_app(store, scorer, x_server)) as client:
        yield client


def _admin_routes() -> list[tuple[str, str]]:
    return [
        (method, route.path)
        for route in admin.router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]


def test_every_admin_route_is_403_for_an_agent_and_open_to_an_admin(
    x_client: TestClient, bob: UserView
) -> None:
    routes = _admin_routes()
    assert len(routes) >= 7  # the X account (page, connect, callback, disconnect), saved replies
    bobs = log_in(x_client, "bob")
    for method, path in routes:
        concrete = path.replace("{saved_reply_id}", "1")
        answer = x_client.request(
            method, concrete, data={"csrf_token": bobs}, follow_redirects=False
        )
        assert answer.status_code == 403, (method, path, answer.status_code)
        assert "agent" in answer.text
    x_client.cookies.clear()
    alices = log_in(x_client, "alice")
    for method, path in routes:
        concrete = path.replace("{saved_reply_id}", "1")
        answer = x_client.request(
            method, concrete, data={"csrf_token": alices}, follow_redirects=False
        )
        assert answer.status_code != 403, (method, path, answer.text)


def test_admin_links_and_the_banner_show_by_role(x_client: TestClient, bob: UserView) -> None:
    log_in(x_client, "bob")
    page = x_client.get("/").text
    assert 'id="x-banner"' in page and "not connected" in page
    assert 'href="/admin/x"' not in page  # an agent is told, not offered the admin page
    x_client.cookies.clear()
    log_in(x_client, "alice")
    page = x_client.get("/").text
    assert 'href="/admin/x"' in page and 'href="/admin/saved-replies"' in page


def test_an_admin_connects_the_account_through_x_and_disconnects_it(
    x_client: TestClient, x_server: XStandInServer, store: TriageStore
) -> None:
    csrf = log_in(x_client, "alice")
    assert 'data-state="not_connected"' in x_client.get("/admin/x").text
    begun = x_client.get("/admin/x/connect", follow_redirects=False)
    assert begun.status_code == 303
    authorize = begun.headers["location"]
    assert authorize.startswith(f"{x_server.url}/2/oauth2/authorize?")
    assert "code_challenge=" in authorize and "code_verifier" not in authorize  # kept here
    callback = approve(x_server, authorize)
    assert callback.startswith(REDIRECT)
    done = x_client.get(callback.removeprefix("http://127.0.0.1:8000"), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/admin/x"
    page = x_client.get("/admin/x").text
    assert 'id="x-banner"' not in page and "connected as @WebbTriageDemo" in page
    assert store.x_token_slot().read() is not None

    replayed = x_client.get(callback.removeprefix("http://127.0.0.1:8000"))
    assert replayed.status_code == 400 and "connect again" in replayed.text

    gone = x_client.post("/admin/x/disconnect", data={"csrf_token": csrf}, follow_redirects=False)
    assert gone.status_code == 303
    assert 'data-state="not_connected"' in x_client.get("/admin/x").text


def test_a_callback_without_a_connect_begun_here_is_refused(x_client: TestClient) -> None:
    log_in(x_client, "alice")
    answer = x_client.get("/x/callback", params={"code": "stolen", "state": "forged"})
    assert answer.status_code == 400 and "connect" in answer.text


def test_without_an_x_app_the_banner_names_the_setting(client: TestClient) -> None:
    log_in(client)
    page = client.get("/").text
    assert 'data-state="unconfigured"' in page and "X_CLIENT_ID" in page
    assert client.get("/admin/x/connect").status_code == 409


def test_saved_replies_are_created_edited_and_deleted_by_an_admin(
    client: TestClient, store: TriageStore
) -> None:
    csrf = log_in(client)
    made = client.post(
        "/admin/saved-replies",
        data={
            "csrf_token": csrf,
            "shortcode": "/thanks",
            "title": "Thanks",
            "text": "Thanks {author}! {agent}",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    (saved,) = store.saved_replies()
    assert (saved.shortcode, saved.text) == ("/thanks", "Thanks {author}! {agent}")
    page = client.get("/admin/saved-replies").text
    assert 'value="/thanks"' in page

    taken = client.post(
        "/admin/saved-replies",
        data={"csrf_token": csrf, "shortcode": "/thanks", "title": "Again", "text": "x"},
    )
    assert taken.status_code == 409 and "/thanks" in taken.text
    malformed = client.post(
        "/admin/saved-replies",
        data={"csrf_token": csrf, "shortcode": "/Not OK", "title": "Bad", "text": "x"},
    )
    assert malformed.status_code == 422 and "shortcode" in malformed.text

    edited = client.post(
        f"/admin/saved-replies/{saved.id}",
        data={"csrf_token": csrf, "shortcode": "/ty", "title": "Thank you", "text": "Ty {handle}"},
        follow_redirects=False,
    )
    assert edited.status_code == 303
    assert [(s.shortcode, s.text) for s in store.saved_replies()] == [("/ty", "Ty {handle}")]
    no_csrf = client.post(f"/admin/saved-replies/{saved.id}/delete", data={})
    assert no_csrf.status_code == 403 and store.saved_replies()
    deleted = client.post(
        f"/admin/saved-replies/{saved.id}/delete", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert deleted.status_code == 303 and store.saved_replies() == []
    assert (
        client.post(
            f"/admin/saved-replies/{saved.id}/delete", data={"csrf_token": csrf}
        ).status_code
        == 404
    )


def test_a_saved_reply_page_escapes_what_an_admin_typed(client: TestClient) -> None:
    csrf = log_in(client)
    client.post(
        "/admin/saved-replies",
        data={"csrf_token": csrf, "shortcode": "/x", "title": "<script>t</script>", "text": "y"},
    )
    page = client.get("/admin/saved-replies").text
    assert "<script>t</script>" not in page and "&lt;script&gt;t&lt;/script&gt;" in page
    queue = client.get("/").text
    picker = re.search(r'<script type="application/json" id="saved-replies">(.*?)</script>', queue)
    assert picker and "<script>" not in picker.group(1)


def test_a_connect_left_unfinished_is_forgotten() -> None:
    now = [0.0]
    connects = PendingConnects(clock=lambda: now[0])
    connects.add(PendingConnect("https://x.example/authorize", "s1", "verifier", REDIRECT))
    now[0] = CONNECT_SECONDS - 1
    connects.add(PendingConnect("https://x.example/authorize", "s2", "verifier", REDIRECT))
    assert connects.take("s2") is not None and connects.take("s2") is None  # once only
    now[0] = CONNECT_SECONDS + 1
    assert connects.take("s1") is None  # too old
