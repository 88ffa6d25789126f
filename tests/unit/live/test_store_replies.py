"""The store's reply outbox on SQLite: queuing with the length rule and the second-reply check
(two people at once: one wins), the worker's claim, lease and records driven by
`outbox.send_next` through each crash point, resends, the token slot and the figures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pytest

from tests.unit.live.conftest import NOW, scored
from tests.unit.live.outbox_fakes import Crash
from tests.unit.live.test_outbox import FakeX
from tweet_triage.data.decisions import Decision
from tweet_triage.live.replies.outbox import (
    OutboxReply,
    PostOutcome,
    PostResult,
    ReplyStatus,
    send_next,
)
from tweet_triage.live.store import (
    LEASE,
    AlreadyRepliedError,
    ConversationStatus,
    DecisionSource,
    ReplyNotFailedError,
    ReplyTextError,
    TriageStore,
    UnknownReplyError,
    UnknownTweetError,
    UserView,
    utc_now,
)

WINDOW = timedelta(minutes=30)
TEXT = "Thanks @ada, we are on it"


@pytest.fixture
def team(store: TriageStore) -> tuple[UserView, UserView]:
    return store.add_user("alice", "h"), store.add_user("bob", "h")


@pytest.fixture
def tweet(store: TriageStore) -> str:
    record = replace(scored(555, 0.9), author_id="42", author_name="Ada", author_handle="ada")
    store.upsert_scored([record])
    return record.id


@dataclass
class CrashingStore:
    """The SQL store, but the worker dies once before recording X's answer."""

    store: TriageStore
    armed: bool = False

    def claim_due(self, now: datetime) -> OutboxReply | None:
        return self.store.claim_due(now)

    def _recording(self) -> None:
        if self.armed:
            self.armed = False
            raise Crash("after X answered, before the answer was recorded")

    def record_sent(self, reply_id: int, x_post_id: str, now: datetime) -> None:
        self._recording()
        self.store.record_sent(reply_id, x_post_id, now)

    def record_retry(
        self, reply_id: int, not_before: datetime, reason: str, uncertain: bool
    ) -> None:
        self._recording()
        self.store.record_retry(reply_id, not_before, reason, uncertain)

    def record_failed(self, reply_id: int, reason: str, now: datetime) -> None:
        self._recording()
        self.store.record_failed(reply_id, reason, now)


class ShiftedClock:
    """Real time moved forward at will: replies are queued at the real time."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


def work(store: CrashingStore, x: FakeX, clock: ShiftedClock, rounds: int = 10) -> None:
    """The worker loop: restarts after a crash, sleeps when nothing is due."""
    for _ in range(rounds):
        try:
            if send_next(store, x, clock) is None:
                clock.advance(20)
        except Crash:
            clock.advance(5)  # restarted at once: the lease still holds the reply


def test_queuing_checks_the_text_and_marks_the_tweet_replied(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str
) -> None:
    alice, _bob = team
    with pytest.raises(ReplyTextError, match="empty") as empty:
        store.queue_reply(tweet, alice.id, "  \n", window=WINDOW)
    assert (empty.value.count, empty.value.limit) == (0, 280)
    with pytest.raises(ReplyTextError, match="limit is 280: shorten it by 1") as long:
        store.queue_reply(tweet, alice.id, "x" * 281, window=WINDOW)
    assert long.value.count == 281
    with pytest.raises(UnknownTweetError):
        store.queue_reply("999", alice.id, TEXT, window=WINDOW)
    assert store.replies_for(tweet) == [] and store.latest_decision(tweet) is None

    link = "see https://example.com/" + "a" * 300  # a link counts 23, whatever its length
    reply = store.queue_reply(tweet, alice.id, link, window=WINDOW)
    assert reply.status is ReplyStatus.QUEUED and reply.author == "alice"
    assert reply.as_json()["status"] == "queued" and reply.as_json()["retry_at"] is None
    decision = store.latest_decision(tweet)
    assert decision is not None and decision.decision is Decision.NEEDED_US
    assert decision.source is DecisionSource.REPLY and decision.user_name == "alice"
    assert store.count_decisions(source="reply") == 1 and store.count_decisions(source="queue") == 0
    view = store.get_tweet(tweet)
    assert (view.status, view.assignee, view.replies_count) == (
        ConversationStatus.ASSIGNED,
        "alice",
        1,
    )
    assert store.queue() == [] and store.reply(reply.id) == reply
    with pytest.raises(UnknownReplyError):
        store.reply(12345)


def test_a_second_reply_in_the_window_names_who_replied(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str
) -> None:
    alice, bob = team
    first = store.queue_reply(tweet, alice.id, TEXT, window=WINDOW)
    with pytest.raises(AlreadyRepliedError, match="alice already replied") as refused:
        store.queue_reply(tweet, bob.id, "Hi Ada", window=WINDOW)
    assert (refused.value.by_user, refused.value.reply_id) == ("alice", first.id)
    assert len(store.replies_for(tweet)) == 1
    assert store.queue_reply(tweet, bob.id, "Hi Ada", window=timedelta(0)).author == "bob"
    third = store.queue_reply(tweet, bob.id, "Also", confirm=True, window=WINDOW)
    assert [r.id for r in store.replies_for(tweet)][-1] == third.id
    assert store.get_tweet(tweet).assignee == "bob"


def test_a_failed_reply_does_not_block_another(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str
) -> None:
    alice, bob = team
    reply = store.queue_reply(tweet, alice.id, TEXT, window=WINDOW)
    claimed = store.claim_due(utc_now())
    assert claimed is not None and claimed.id == reply.id
    store.record_failed(reply.id, "403: replies to this conversation are restricted", utc_now())
    assert store.queue_reply(tweet, bob.id, "Hi Ada", window=WINDOW).status is ReplyStatus.QUEUED


def test_two_people_replying_at_once_one_wins(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str
) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def reply_as(user: UserView) -> None:
        barrier.wait()
        try:
            store.queue_reply(tweet, user.id, f"{TEXT} ({user.name})", window=WINDOW)
            outcomes.append("sent")
        except AlreadyRepliedError as exc:
            outcomes.append(f"told {exc.by_user} replied")

    threads = [threading.Thread(target=reply_as, args=(user,)) for user in team]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = store.replies_for(tweet)
    assert sorted(outcomes) == ["sent", f"told {winner.author} replied"]
    assert store.count_decisions() == 1


def test_a_reply_is_sent_once_and_answers_the_conversation(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str, clock: ShiftedClock
) -> None:
    reply = store.queue_reply(tweet, team[0].id, TEXT, window=WINDOW)
    x = FakeX()
    work(CrashingStore(store), x, clock)
    assert [(p.in_reply_to_tweet_id, p.text) for p in x.posted] == [(tweet, TEXT)]
    sent = store.reply(reply.id)
    assert sent.status is ReplyStatus.SENT and sent.x_post_id == x.posted[0].x_post_id
    assert sent.sent_at is not None and sent.x_url is not None and sent.attempts == 1
    conversation = store.conversation(tweet)
    assert conversation.status is ConversationStatus.REPLIED
    assert conversation.first_response_at == sent.sent_at
    assert store.reply_counts()[ReplyStatus.SENT] == 1
    assert store.reply_counts()[ReplyStatus.QUEUED] == 0


@pytest.mark.parametrize(
    "crash_point",
    ["after the claim", "while X answers", "after X answered", "timeout after X created it"],
)
def test_no_crash_point_posts_twice(
    store: TriageStore,
    team: tuple[UserView, UserView],
    tweet: str,
    clock: ShiftedClock,
    crash_point: str,
) -> None:
    reply = store.queue_reply(tweet, team[0].id, TEXT, window=WINDOW)
    x = FakeX(refuses_duplicates=False)  # the store, not X's backstop, must prevent it
    worker = CrashingStore(store)
    if crash_point == "after the claim":
        assert store.claim_due(clock()) is not None  # the worker dies before calling X
        assert send_next(worker, x, clock) is None  # the lease holds it from other workers
        assert store.reply(reply.id).status is ReplyStatus.SENDING
    elif crash_point == "while X answers":
        x.answers.append("create then crash")
    elif crash_point == "after X answered":
        worker.armed = True
    else:
        x.answers.append("create then time out")
    work(worker, x, clock)
    assert [p.in_reply_to_tweet_id for p in x.posted] == [tweet]
    sent = store.reply(reply.id)
    assert sent.status is ReplyStatus.SENT and sent.x_post_id == x.posted[0].x_post_id


def test_a_stale_claim_comes_back_uncertain_after_the_lease(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str, clock: ShiftedClock
) -> None:
    store.queue_reply(tweet, team[0].id, TEXT, window=WINDOW)
    first = store.claim_due(utc_now())
    assert first is not None and (first.attempts, first.uncertain) == (1, False)
    claimed_at = utc_now()
    assert store.claim_due(claimed_at + LEASE - timedelta(seconds=5)) is None
    again = store.claim_due(claimed_at + LEASE + timedelta(seconds=5))
    assert again is not None and again.id == first.id
    assert (again.status, again.attempts, again.uncertain) == (ReplyStatus.SENDING, 2, True)


def test_rate_limits_wait_and_refusals_keep_the_draft_for_resend(
    store: TriageStore, team: tuple[UserView, UserView], tweet: str, clock: ShiftedClock
) -> None:
    alice, bob = team
    reply = store.queue_reply(tweet, alice.id, TEXT, window=WINDOW)
    reset = clock() + timedelta(minutes=15)
    x = FakeX(answers=[PostResult(PostOutcome.RATE_LIMITED, retry_at=reset)])
    send_next(store, x, clock)
    waiting = store.reply(reply.id)
    assert waiting.status is ReplyStatus.QUEUED and "rate-limited" in (waiting.error or "")
    assert waiting.retry_at == reset and waiting.as_json()["retry_at"] == reset.isoformat()
    clock.advance(15 * 60 - 1)
    assert send_next(store, x, clock) is None and x.posted == []

    clock.advance(1)
    x.answers.append(PostResult(PostOutcome.REFUSED, reason="403: You are not allowed to reply"))
    send_next(store, x, clock)
    failed = store.reply(reply.id)
    assert (
        failed.status is ReplyStatus.FAILED and failed.error == "403: You are not allowed to reply"
    )
    assert failed.text == TEXT  # the draft is kept
    with pytest.raises(ReplyTextError):
        store.resend_reply(reply.id, bob.id, "")
    again = store.resend_reply(reply.id, bob.id, "Edited: " + TEXT)
    assert (again.status, again.author, again.error, again.attempts) == (
        ReplyStatus.QUEUED,
        "bob",
        None,
        0,
    )
    with pytest.raises(ReplyNotFailedError, match="only a failed reply"):
        store.resend_reply(reply.id, bob.id, "twice")
    send_next(store, x, clock)
    assert [p.text for p in x.posted] == ["Edited: " + TEXT]
    assert store.reply(reply.id).status is ReplyStatus.SENT


def test_the_token_slot_round_trips(store: TriageStore) -> None:
    slot = store.x_token_slot()
    assert slot.read() is None
    slot.write(b"sealed-1")
    slot.write(b"sealed-2")
    assert slot.read() == b"sealed-2" and store.x_token_slot().read() == b"sealed-2"
    slot.clear()
    assert slot.read() is None


@pytest.fixture
def answered(store: TriageStore, team: tuple[UserView, UserView]) -> Iterator[list[str]]:
    """Three conversations opened at NOW - 60 min, NOW - 30 min and NOW - 10 min."""
    records = [
        scored(tweet_id, 0.9, minutes_ago=minutes)
        for tweet_id, minutes in ((1, 60), (2, 30), (3, 10))
    ]
    store.upsert_scored(records)
    yield [r.id for r in records]


def test_response_figures(
    store: TriageStore, team: tuple[UserView, UserView], answered: list[str]
) -> None:
    alice, bob = team
    for tweet_id, user, sent_at in (
        ("1", alice, NOW - timedelta(minutes=55)),  # 5 min after arrival
        ("2", bob, NOW + timedelta(minutes=50)),  # 80 min after arrival: past a 60 min SLA
    ):
        reply = store.queue_reply(tweet_id, user.id, TEXT, window=WINDOW)
        assert store.claim_due(utc_now()) is not None
        store.record_sent(reply.id, f"9{tweet_id}", sent_at)
    assert sorted(store.first_response_times()) == [300.0, 4800.0]
    assert store.first_response_times(since=NOW) == [4800.0]
    hours = store.first_response_by_hour(NOW - timedelta(hours=2))
    assert [(h.hour.hour, h.p50_seconds, h.count) for h in hours] == [
        (11, 300.0, 1),
        (12, 4800.0, 1),
    ]
    assert store.resolution_times() == []
    store.resolve("1", alice.id, now=NOW - timedelta(minutes=40))  # 20 min after arrival
    store.resolve("2", bob.id, now=NOW + timedelta(minutes=60))
    assert sorted(store.resolution_times()) == [1200.0, 5400.0]
    assert store.resolution_times(since=NOW) == [5400.0]
    assert store.replies_per_person() == {"alice": 1, "bob": 1}
    assert store.replies_per_person(since=NOW) == {"bob": 1}
    # Tweet 3 still waits for an answer; tweet 2's answer came late.
    sla = timedelta(minutes=60)
    assert store.sla_breaches(sla, NOW) == 1  # 2's first response took 80 min
    assert store.sla_breaches(sla, NOW + timedelta(minutes=51)) == 2  # and 3 waits 61 min
    assert store.sla_breaches(sla, NOW + timedelta(minutes=51), since=NOW + timedelta(hours=1)) == 1
    assert store.sla_breaches(timedelta(minutes=5), NOW) == 2  # 3 waits 10 min, 2 was late


def test_reply_examples_are_replies_made_with_saved_replies(
    store: TriageStore, team: tuple[UserView, UserView], answered: list[str]
) -> None:
    alice, _bob = team
    saved = store.create_saved_reply("/thanks", "Thanks", "Thanks {author}!", alice.id)
    store.queue_reply("1", alice.id, "Thanks!", saved_reply_id=saved.id, window=WINDOW)
    store.queue_reply("2", alice.id, "Something else", window=WINDOW)
    failed = store.queue_reply("3", alice.id, "Thanks!", saved_reply_id=saved.id, window=WINDOW)
    store.record_failed(failed.id, "refused", utc_now())
    assert store.reply_examples() == [(scored(1, 0.9).text, saved.id)]
