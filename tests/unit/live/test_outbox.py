"""The outbox's state machine with a fake clock, an in-memory store and a fake X that can crash
the worker at each point between claiming a reply and recording X's answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from tests.unit.live.outbox_fakes import START, Crash, FakeClock, MemoryStore
from tweet_triage.live.replies.outbox import (
    PostedReply,
    PostOutcome,
    PostResult,
    ReplyStatus,
    RetryPolicy,
    send_next,
)


@dataclass
class FakeX:
    """X's write side: posts for real (into `posted`) unless told to answer otherwise."""

    posted: list[PostedReply] = field(default_factory=list)
    answers: list[PostResult | str] = field(default_factory=list)  # str: a scripted behaviour
    refuses_duplicates: bool = True  # X's backstop; not something to rely on

    def post_reply(self, text: str, in_reply_to_tweet_id: str) -> PostResult:
        script = self.answers.pop(0) if self.answers else "create"
        if isinstance(script, PostResult):
            return script
        if self.refuses_duplicates and any(p.text == text for p in self.posted):
            return PostResult(PostOutcome.DUPLICATE, reason="duplicate content")
        post = PostedReply(str(1000 + len(self.posted)), in_reply_to_tweet_id, text)
        self.posted.append(post)
        if script == "create then crash":
            raise Crash("X created the post, then the worker died before reading the answer")
        if script == "create then time out":
            return PostResult(PostOutcome.UNCERTAIN, reason="read timeout")
        return PostResult(PostOutcome.CREATED, x_post_id=post.x_post_id)

    def recent_posts(self) -> list[PostedReply]:
        return list(reversed(self.posted))


def run_until_idle(store: MemoryStore, x: FakeX, clock: FakeClock, rounds: int = 10) -> None:
    """The worker loop: restarts after a crash, waits for the next due reply."""
    for _ in range(rounds):
        try:
            if send_next(store, x, clock) is None:
                clock.advance(600)
        except Crash:
            clock.advance(30)  # the worker is restarted


@pytest.fixture
def parts() -> tuple[MemoryStore, FakeX, FakeClock]:
    store = MemoryStore()
    store.add(1, "555", "Thanks, we are on it")
    return store, FakeX(), FakeClock()


def test_a_reply_is_sent_once(parts: tuple[MemoryStore, FakeX, FakeClock]) -> None:
    store, x, clock = parts
    run_until_idle(store, x, clock)
    assert [p.in_reply_to_tweet_id for p in x.posted] == ["555"]
    assert store.rows[1].reply.status is ReplyStatus.SENT
    assert store.rows[1].x_post_id == x.posted[0].x_post_id


@pytest.mark.parametrize(
    "crash_point",
    ["after the claim", "while X answers", "after X answered", "timeout after X created it"],
)
def test_no_crash_point_posts_twice(
    parts: tuple[MemoryStore, FakeX, FakeClock], crash_point: str
) -> None:
    store, x, clock = parts
    x.refuses_duplicates = False  # the guarantee must hold without X's duplicate check
    if crash_point == "after the claim":
        store.claim_due(clock())  # the worker claimed it and died before calling X
    elif crash_point == "while X answers":
        x.answers.append("create then crash")
    elif crash_point == "after X answered":
        store.crash_before_recording = True
    else:
        x.answers.append("create then time out")
    run_until_idle(store, x, clock)
    assert len(x.posted) == 1, f"posted {len(x.posted)} times"
    row = store.rows[1]
    assert row.reply.status is ReplyStatus.SENT
    assert row.x_post_id == x.posted[0].x_post_id


def test_xs_duplicate_answer_to_an_uncertain_resend_is_a_send(
    parts: tuple[MemoryStore, FakeX, FakeClock],
) -> None:
    store, x, clock = parts
    x.answers.append("create then time out")
    send_next(store, x, clock)
    clock.now = store.rows[1].not_before
    x.answers.append(PostResult(PostOutcome.DUPLICATE, reason="duplicate content"))
    original_recent = x.recent_posts
    looks: list[int] = []

    def recent_after_first_look() -> list[PostedReply]:
        looks.append(1)
        return [] if len(looks) == 1 else original_recent()  # X's list lagged at first

    x.recent_posts = recent_after_first_look  # type: ignore[method-assign]
    send_next(store, x, clock)
    assert store.rows[1].reply.status is ReplyStatus.SENT
    assert store.rows[1].x_post_id == x.posted[0].x_post_id and len(looks) == 2


def test_a_crash_before_x_got_it_sends_after_checking(
    parts: tuple[MemoryStore, FakeX, FakeClock],
) -> None:
    store, x, clock = parts
    store.claim_due(clock())
    reply = send_next(store, x, clock)
    assert reply is not None and reply.uncertain and reply.attempts == 2
    assert len(x.posted) == 1 and store.rows[1].reply.status is ReplyStatus.SENT


def test_rate_limit_waits_for_xs_reset(parts: tuple[MemoryStore, FakeX, FakeClock]) -> None:
    store, x, clock = parts
    reset = START + timedelta(minutes=9)
    x.answers.append(PostResult(PostOutcome.RATE_LIMITED, retry_at=reset))
    send_next(store, x, clock)
    row = store.rows[1]
    assert row.reply.status is ReplyStatus.QUEUED and row.not_before == reset
    assert "rate-limited by X until 2021-12-25T12:09:00" in (row.error or "")
    clock.advance(8 * 60)
    assert send_next(store, x, clock) is None  # not before X's reset
    clock.advance(60)
    send_next(store, x, clock)
    assert row.reply.status is ReplyStatus.SENT and len(x.posted) == 1


def test_server_errors_back_off_and_check_before_resending(
    parts: tuple[MemoryStore, FakeX, FakeClock],
) -> None:
    store, x, clock = parts
    unavailable = PostResult(PostOutcome.UNCERTAIN, reason="503 Service Unavailable")
    x.answers += [unavailable, unavailable]
    send_next(store, x, clock)
    first_wait = store.rows[1].not_before - clock()
    clock.now = store.rows[1].not_before
    send_next(store, x, clock)
    second_wait = store.rows[1].not_before - clock()
    assert second_wait == 2 * first_wait == timedelta(seconds=RetryPolicy().first_seconds * 2)
    assert store.rows[1].reply.uncertain
    clock.now = store.rows[1].not_before
    send_next(store, x, clock)
    assert store.rows[1].reply.status is ReplyStatus.SENT and len(x.posted) == 1


def test_a_permanent_refusal_keeps_xs_reason(parts: tuple[MemoryStore, FakeX, FakeClock]) -> None:
    store, x, clock = parts
    reason = "Reply to this conversation is not allowed"
    x.answers.append(PostResult(PostOutcome.REFUSED, reason=reason))
    send_next(store, x, clock)
    row = store.rows[1]
    assert row.reply.status is ReplyStatus.FAILED and row.error == reason
    assert not x.posted


def test_a_revoked_token_holds_the_reply(parts: tuple[MemoryStore, FakeX, FakeClock]) -> None:
    store, x, clock = parts
    x.answers.append(PostResult(PostOutcome.UNAUTHORIZED))
    send_next(store, x, clock)
    row = store.rows[1]
    assert row.reply.status is ReplyStatus.QUEUED and "reconnecting" in (row.error or "")
    assert row.not_before == START + timedelta(seconds=RetryPolicy().held_seconds)


def test_a_fresh_duplicate_is_a_refusal_not_a_send(
    parts: tuple[MemoryStore, FakeX, FakeClock],
) -> None:
    store, x, clock = parts
    x.posted.append(PostedReply("900", "777", "Thanks, we are on it"))  # posted on another tweet
    send_next(store, x, clock)
    assert store.rows[1].reply.status is ReplyStatus.FAILED
    assert len(x.posted) == 1
