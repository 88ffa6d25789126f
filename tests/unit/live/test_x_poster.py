"""The outbox posting to the X stand-in over HTTP: X's answers classified by what they prove,
and exactly one post per reply when the worker crashes or X fails on the way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import requests

from tests.unit.live.outbox_fakes import Crash, FakeClock, MemoryStore
from tests.unit.xapi.test_xapi_writes import APP, CORPUS, connect, make_server
from tweet_triage.live.replies.outbox import PostOutcome, PostResult, ReplyStatus, send_next
from tweet_triage.live.replies.x_poster import HttpXPoster, classify
from tweet_triage_local.xapi.server import XStandInServer

TWEET = CORPUS[0]["id"]


def answer(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "outcome", "reason"),
    [
        (answer(201, {"data": {"id": "77", "text": "x"}}), PostOutcome.CREATED, None),
        (answer(401, {"title": "Unauthorized"}), PostOutcome.UNAUTHORIZED, "Unauthorized"),
        (
            answer(
                403, {"detail": "You are not allowed to create a Tweet with duplicate content."}
            ),
            PostOutcome.DUPLICATE,
            "duplicate content",
        ),
        (
            answer(403, {"detail": "Reply to this conversation is not allowed because ..."}),
            PostOutcome.REFUSED,
            "403: Reply to this conversation is not allowed",
        ),
        (
            answer(400, {"errors": [{"message": "Your Tweet text is too long."}]}),
            PostOutcome.REFUSED,
            "400: Your Tweet text is too long.",
        ),
        (answer(503, {"title": "Service Unavailable"}), PostOutcome.UNCERTAIN, "503"),
        (httpx.Response(502, text="<html>bad gateway</html>"), PostOutcome.UNCERTAIN, "502"),
    ],
)
def test_answers_are_classified_by_what_they_prove(
    response: httpx.Response, outcome: PostOutcome, reason: str | None
) -> None:
    result = classify(response)
    assert result.outcome is outcome
    if reason:
        assert reason in (result.reason or "")


def test_429_carries_xs_reset_time() -> None:
    result = classify(
        answer(429, {"title": "Too Many Requests"}, **{"x-rate-limit-reset": "1640435400"})
    )
    assert result.outcome is PostOutcome.RATE_LIMITED
    assert result.retry_at is not None and result.retry_at.timestamp() == 1640435400


@pytest.fixture
def server(tmp_path: Path) -> Iterator[XStandInServer]:
    srv = make_server(tmp_path / "state")
    yield srv
    srv.stop()


def poster_for(server: XStandInServer) -> HttpXPoster:
    token = connect(server)["access_token"]
    return HttpXPoster(server.url, server.standin.oauth.account.id, lambda: token, timeout=5)


def posts(server: XStandInServer) -> list[dict[str, object]]:
    return requests.get(f"{server.url}/_standin/posts", headers=APP, timeout=5).json()["posts"]


class CrashAfterPosting(HttpXPoster):
    """The worker dies after X created the post, before it read X's answer."""

    crashes = 1

    def post_reply(self, text: str, in_reply_to_tweet_id: str) -> PostResult:
        result = super().post_reply(text, in_reply_to_tweet_id)
        if self.crashes:
            self.crashes -= 1
            raise Crash("after X created the post")
        return result


def run(store: MemoryStore, poster: HttpXPoster, clock: FakeClock) -> None:
    for _ in range(6):
        try:
            if send_next(store, poster, clock) is None:
                clock.advance(600)
        except Crash:
            clock.advance(30)


def test_a_reply_goes_out_once_through_a_crash(server: XStandInServer) -> None:
    token = connect(server)["access_token"]
    poster = CrashAfterPosting(server.url, server.standin.oauth.account.id, lambda: token)
    store, clock = MemoryStore(), FakeClock()
    store.add(1, TWEET, "Thanks for asking! The mirror is fully deployed.")
    run(store, poster, clock)
    sent = posts(server)
    assert len(sent) == 1 and sent[0]["in_reply_to_tweet_id"] == TWEET
    assert store.rows[1].reply.status is ReplyStatus.SENT
    assert store.rows[1].x_post_id == sent[0]["id"]


def test_a_503_is_checked_then_sent_once(server: XStandInServer) -> None:
    poster = poster_for(server)
    requests.post(
        f"{server.url}/_standin/posting", json={"server_errors": 1}, headers=APP, timeout=5
    )
    store, clock = MemoryStore(), FakeClock()
    store.add(1, TWEET, "We are looking into it")
    run(store, poster, clock)
    assert len(posts(server)) == 1 and store.rows[1].reply.status is ReplyStatus.SENT


def test_xs_refusals_keep_the_reason(server: XStandInServer) -> None:
    poster = poster_for(server)
    requests.post(
        f"{server.url}/_standin/posting", json={"restricted": [TWEET]}, headers=APP, timeout=5
    )
    store, clock = MemoryStore(), FakeClock()
    store.add(1, TWEET, "Hello")
    store.add(2, CORPUS[1]["id"], "x" * 300)
    run(store, poster, clock)
    assert store.rows[1].reply.status is ReplyStatus.FAILED
    assert "not allowed" in (store.rows[1].error or "")
    assert store.rows[2].reply.status is ReplyStatus.FAILED
    assert "too long" in (store.rows[2].error or "")
    assert posts(server) == []


def test_no_account_holds_replies(server: XStandInServer) -> None:
    poster = HttpXPoster(server.url, "1", lambda: None)
    store, clock = MemoryStore(), FakeClock()
    store.add(1, TWEET, "Hello")
    send_next(store, poster, clock)
    assert store.rows[1].reply.status is ReplyStatus.QUEUED
    assert "reconnecting" in (store.rows[1].error or "")


def test_an_unreachable_x_is_uncertain_not_failed() -> None:
    poster = HttpXPoster("http://127.0.0.1:9", "1", lambda: "t", timeout=1)
    result = poster.post_reply("hi", "1")
    assert result.outcome is PostOutcome.UNCERTAIN and "ConnectError" in (result.reason or "")
