"""X's write side on the stand-in over real HTTP: OAuth 2.0 with PKCE through authlib's client
(the library the inbox uses), posting with X's limits and refusals, reading posts back."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tweet_triage_local.corpus.tweets import tweet_object
from tweet_triage_local.xapi.authors import corpus_author
from tweet_triage_local.xapi.oauth import OAuthClient
from tweet_triage_local.xapi.server import XStandInServer
from tweet_triage_local.xapi.standin import StandIn

TOKEN = "app-only-token"
APP = {"Authorization": f"Bearer {TOKEN}"}
CLIENT_ID = "inbox-app"
REDIRECT = "http://127.0.0.1:8000/x/callback"
SCOPE = "tweet.read tweet.write users.read offline.access"
BASE_ID = 640436841431347200
CORPUS = [tweet_object(BASE_ID + (i << 22), f"tweet {i} about webb") for i in range(4)]
REPLIED_TO = CORPUS[0]["id"]


def make_server(state: Path, client: OAuthClient | None = None) -> XStandInServer:
    standin = StandIn(
        CORPUS,
        token=TOKEN,
        state_dir=state,
        oauth_client=client or OAuthClient(CLIENT_ID, redirect_uris=(REDIRECT,)),
    )
    return XStandInServer(standin).start()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = make_server(tmp_path / "state")
    yield srv
    srv.stop()


def session(server: XStandInServer, **kwargs: Any) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        redirect_uri=REDIRECT,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint=f"{server.url}/2/oauth2/token",
        **kwargs,
    )


def approve(server: XStandInServer, authorize_url: str, decision: str = "approve") -> str:
    """Play the person on X's approve page; the callback URL X redirects to."""
    page = requests.get(authorize_url, timeout=5)
    assert page.status_code == 200, page.text
    approval = re.search(r'name="approval" value="([^"]+)"', page.text)
    assert approval and "@WebbTriageDemo" in page.text
    answer = requests.post(
        f"{server.url}/2/oauth2/authorize",
        data={"approval": approval.group(1), "decision": decision},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 302
    return str(answer.headers["Location"])


def connect(server: XStandInServer) -> dict[str, Any]:
    client = session(server)
    verifier = generate_token(48)
    url, _state = client.create_authorization_url(
        f"{server.url}/2/oauth2/authorize", code_verifier=verifier
    )
    callback = approve(server, url)
    return dict(client.fetch_token(authorization_response=callback, code_verifier=verifier))


def post(server: XStandInServer, token: str, body: Any) -> requests.Response:
    return requests.post(
        f"{server.url}/2/tweets",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    )


def test_pkce_flow_gives_user_tokens_that_post_a_reply(server: XStandInServer) -> None:
    token = connect(server)
    assert token["expires_in"] == 7200 and token["refresh_token"]
    assert set(token["scope"].split()) == set(SCOPE.split())
    me = requests.get(
        f"{server.url}/2/users/me",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=5,
    )
    assert me.json()["data"]["username"] == "WebbTriageDemo"

    answer = post(
        server,
        token["access_token"],
        {"text": "Thanks, we're on it", "reply": {"in_reply_to_tweet_id": REPLIED_TO}},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["x-rate-limit-limit"] == "100"
    assert answer.headers["x-rate-limit-remaining"] == "99"
    posted = answer.json()["data"]
    listed = requests.get(f"{server.url}/_standin/posts", headers=APP, timeout=5).json()["posts"]
    assert [(p["id"], p["in_reply_to_tweet_id"]) for p in listed] == [(posted["id"], REPLIED_TO)]
    read = requests.get(f"{server.url}/2/tweets/{posted['id']}", headers=APP, timeout=5).json()
    assert read["data"]["conversation_id"] == REPLIED_TO
    assert read["data"]["referenced_tweets"] == [{"type": "replied_to", "id": REPLIED_TO}]


def test_wrong_verifier_reused_code_and_cancel_are_refused(server: XStandInServer) -> None:
    client = session(server)
    url, _ = client.create_authorization_url(
        f"{server.url}/2/oauth2/authorize", code_verifier=generate_token(48)
    )
    callback = approve(server, url)
    code = re.search(r"code=([^&]+)", callback)
    assert code
    form = {
        "grant_type": "authorization_code",
        "code": code.group(1),
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "code_verifier": generate_token(48),  # not the one the challenge was made from
    }
    refused = requests.post(f"{server.url}/2/oauth2/token", data=form, timeout=5)
    assert refused.status_code == 400
    assert "code_verifier" in refused.json()["error_description"]
    again = requests.post(f"{server.url}/2/oauth2/token", data=form, timeout=5)
    assert again.json()["error"] == "invalid_request"  # a code is used once, even on failure

    url, _ = session(server).create_authorization_url(
        f"{server.url}/2/oauth2/authorize", code_verifier=generate_token(48)
    )
    assert "error=access_denied" in approve(server, url, decision="cancel")


def test_authorize_refuses_a_foreign_redirect_without_redirecting(server: XStandInServer) -> None:
    page = requests.get(
        f"{server.url}/2/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": "https://attacker.example/cb",
            "scope": SCOPE,
            "state": "s",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=5,
    )
    assert page.status_code == 400 and "not a callback URL registered" in page.text


def test_refresh_rotates_and_expired_or_revoked_tokens_stop_working(
    server: XStandInServer,
) -> None:
    token = connect(server)
    expired = requests.post(
        f"{server.url}/_standin/oauth", json={"expire_access_tokens": True}, headers=APP, timeout=5
    )
    assert expired.json() == {"expire_access_tokens": 1}
    assert post(server, token["access_token"], {"text": "hello"}).status_code == 401

    refreshed = session(server, token=token).refresh_token(f"{server.url}/2/oauth2/token")
    assert refreshed["access_token"] != token["access_token"]
    assert post(server, refreshed["access_token"], {"text": "hello"}).status_code == 201
    reused = requests.post(
        f"{server.url}/2/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": token["refresh_token"],
            "client_id": CLIENT_ID,
        },
        timeout=5,
    )
    assert reused.status_code == 400  # the old refresh token was rotated away

    requests.post(f"{server.url}/_standin/oauth", json={"revoke_all": True}, headers=APP, timeout=5)
    assert post(server, refreshed["access_token"], {"text": "again"}).status_code == 401


def test_tokens_outlive_a_restart(tmp_path: Path) -> None:
    first = make_server(tmp_path / "state")
    try:
        token = connect(first)
    finally:
        first.stop()
    second = make_server(tmp_path / "state")
    try:
        assert post(second, token["access_token"], {"text": "after a restart"}).status_code == 201
    finally:
        second.stop()


def test_app_only_bearer_gets_xs_403(server: XStandInServer) -> None:
    answer = requests.post(f"{server.url}/2/tweets", json={"text": "hi"}, headers=APP, timeout=5)
    assert answer.status_code == 403
    assert answer.json()["title"] == "Unsupported Authentication"
    anonymous = requests.post(f"{server.url}/2/tweets", json={"text": "hi"}, timeout=5)
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"text": "a" * 281}, 400, "too long"),
        ({"text": "   "}, 400, "non-empty"),
        ({"text": "hi", "reply": {"in_reply_to_tweet_id": "12"}}, 403, "deleted or not visible"),
        ({"text": "hi", "reply": {"in_reply_to_tweet_id": "abc"}}, 400, "tweet id"),
        ({"txt": "hi"}, 400, "unknown field"),
    ],
)
def test_bad_posts_get_xs_answers(
    server: XStandInServer, body: dict[str, Any], status: int, says: str
) -> None:
    token = connect(server)
    answer = post(server, token["access_token"], body)
    assert answer.status_code == status
    assert says in answer.text


def test_duplicate_restricted_and_deleted_replies_are_refused(server: XStandInServer) -> None:
    token = connect(server)["access_token"]
    reply = {"text": "We're looking into it", "reply": {"in_reply_to_tweet_id": REPLIED_TO}}
    assert post(server, token, reply).status_code == 201
    duplicate = post(server, token, reply)
    assert duplicate.status_code == 403 and "duplicate content" in duplicate.json()["detail"]

    faults = {"restricted": [CORPUS[1]["id"]], "deleted": [CORPUS[2]["id"]]}
    requests.post(f"{server.url}/_standin/posting", json=faults, headers=APP, timeout=5)
    restricted = post(
        server, token, {"text": "a", "reply": {"in_reply_to_tweet_id": CORPUS[1]["id"]}}
    )
    assert restricted.status_code == 403 and "not allowed" in restricted.json()["detail"]
    deleted = post(server, token, {"text": "b", "reply": {"in_reply_to_tweet_id": CORPUS[2]["id"]}})
    assert deleted.status_code == 403 and "deleted" in deleted.json()["detail"]
    gone = requests.get(f"{server.url}/2/tweets/{CORPUS[2]['id']}", headers=APP, timeout=5)
    assert gone.json()["errors"][0]["title"] == "Not Found Error"

    requests.post(
        f"{server.url}/_standin/posting", json={"read_only": True}, headers=APP, timeout=5
    )
    assert post(server, token, {"text": "c"}).json()["reason"] == "client-not-enrolled"


def test_rate_limit_and_injected_errors(server: XStandInServer) -> None:
    token = connect(server)["access_token"]
    server.standin.posts.limit = 3
    requests.post(
        f"{server.url}/_standin/posting", json={"server_errors": 1}, headers=APP, timeout=5
    )
    assert post(server, token, {"text": "one"}).status_code == 503
    assert post(server, token, {"text": "two"}).status_code == 201
    assert post(server, token, {"text": "three"}).status_code == 201
    limited = post(server, token, {"text": "four"})
    assert limited.status_code == 429
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert int(limited.headers["x-rate-limit-reset"]) > 0
    assert len(server.standin.posts.listing()) == 2


def test_posting_faults_are_validated(server: XStandInServer) -> None:
    answer = requests.post(
        f"{server.url}/_standin/posting", json={"server_errors": -1}, headers=APP, timeout=5
    )
    assert answer.status_code == 400 and "count" in answer.text
    unknown = requests.post(
        f"{server.url}/_standin/posting", json={"explode": True}, headers=APP, timeout=5
    )
    assert unknown.status_code == 400 and "unknown posting fault" in unknown.text


def stream_lines(server: XStandInServer, query: str) -> Iterator[dict[str, Any] | None]:
    """Tweets from the filtered stream as dicts; None for a keep-alive."""
    response = requests.get(
        f"{server.url}/2/tweets/search/stream{query}", headers=APP, stream=True, timeout=(5, 5)
    )
    assert response.status_code == 200, response.text
    buffer = b""
    for data in response.iter_content(chunk_size=None):
        buffer += data
        while b"\r\n" in buffer:
            line, buffer = buffer.split(b"\r\n", 1)
            yield json.loads(line) if line else None


def add_rule(server: XStandInServer, value: str) -> None:
    answer = requests.post(
        f"{server.url}/2/tweets/search/stream/rules",
        json={"add": [{"value": value}]},
        headers=APP,
        timeout=5,
    )
    assert answer.status_code == 200 and answer.json()["meta"]["summary"]["created"] == 1


def test_stream_carries_authors_and_conversations(tmp_path: Path) -> None:
    standin = StandIn(CORPUS, token=TOKEN, state_dir=tmp_path / "state", keepalive_seconds=0.2)
    with XStandInServer(standin) as server:
        add_rule(server, "webb")
        fields = "?tweet.fields=author_id,conversation_id&expansions=author_id"
        first = next(line for line in stream_lines(server, fields) if line)
    data, users = first["data"], first["includes"]["users"]
    assert data["id"] == REPLIED_TO and data["conversation_id"] == REPLIED_TO
    assert users == [corpus_author(REPLIED_TO)] and data["author_id"] == users[0]["id"]
    assert corpus_author(CORPUS[1]["id"])["id"] != users[0]["id"]


def test_a_scripted_author_answers_the_teams_reply_in_the_conversation(
    server: XStandInServer,
) -> None:
    token = connect(server)["access_token"]
    settings = requests.post(
        f"{server.url}/_standin/authors",
        json={"share": 1, "delay_seconds": 0},
        headers=APP,
        timeout=5,
    )
    assert settings.json()["share"] == 1.0
    server.standin.set_replay({"start": len(CORPUS)})  # only the answer is left to stream
    add_rule(server, "@WebbTriageDemo")
    reply = post(
        server, token, {"text": "Happy to help", "reply": {"in_reply_to_tweet_id": REPLIED_TO}}
    )
    reply_id = reply.json()["data"]["id"]
    fields = "author_id,conversation_id,in_reply_to_user_id,referenced_tweets"
    query = f"?tweet.fields={fields}&expansions=author_id"
    answer = next(line for line in stream_lines(server, query) if line)
    data = answer["data"]
    assert data["conversation_id"] == REPLIED_TO
    assert data["referenced_tweets"] == [{"type": "replied_to", "id": reply_id}]
    assert data["in_reply_to_user_id"] == server.standin.oauth.account.id
    assert data["text"].startswith("@WebbTriageDemo ")
    assert answer["includes"]["users"] == [corpus_author(REPLIED_TO)]
    read = requests.get(f"{server.url}/2/tweets/{data['id']}", headers=APP, timeout=5).json()
    assert read["data"]["id"] == data["id"]


def test_no_author_answers_at_share_zero_and_bad_settings_are_refused(
    server: XStandInServer,
) -> None:
    token = connect(server)["access_token"]
    post(server, token, {"text": "Hello", "reply": {"in_reply_to_tweet_id": REPLIED_TO}})
    assert server.standin.authors.pending() == 0
    refused = requests.post(
        f"{server.url}/_standin/authors", json={"share": 2}, headers=APP, timeout=5
    )
    assert refused.status_code == 400 and "share" in refused.text


def test_the_accounts_timeline_shows_what_went_out(server: XStandInServer) -> None:
    token = connect(server)["access_token"]
    first = post(server, token, {"text": "first"}).json()["data"]["id"]
    second = post(server, token, {"text": "second"}).json()["data"]["id"]
    account = server.standin.oauth.account.id
    timeline = requests.get(
        f"{server.url}/2/users/{account}/tweets", params={"max_results": 5}, headers=APP, timeout=5
    ).json()
    assert [t["id"] for t in timeline["data"]] == [second, first]
    assert timeline["meta"] == {"result_count": 2, "newest_id": second, "oldest_id": first}
    nobody = requests.get(f"{server.url}/2/users/42/tweets", headers=APP, timeout=5).json()
    assert nobody == {"meta": {"result_count": 0}}
    bad = requests.get(
        f"{server.url}/2/users/{account}/tweets", params={"max_results": 1}, headers=APP, timeout=5
    )
    assert bad.status_code == 400
