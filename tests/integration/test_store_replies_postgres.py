"""Replies and conversations against a real PostgreSQL server on loopback: two people queuing
a reply at once (the row locks: one wins), workers claiming at once (SKIP LOCKED: each reply
once), the lease, and the author's answer reopening the conversation. The SQLite unit tests of
tests/unit/live/test_store_replies.py and test_store_conversations.py run here too."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from tests.unit.live.conftest import scored
from tests.unit.live.test_store_conversations import (  # noqa: F401 - collected here on PostgreSQL
    test_ownership_and_the_queues_owner_filters,
    test_presence_shows_others_within_the_window,
    test_saved_replies_and_their_shortcodes,
    test_the_authors_answer_reopens_the_conversation_at_the_top,
    test_the_conversation_view_in_time_order,
)
from tests.unit.live.test_store_replies import (  # noqa: F401 - collected here on PostgreSQL
    answered,
    clock,
    team,
    test_a_second_reply_in_the_window_names_who_replied,
    test_a_stale_claim_comes_back_uncertain_after_the_lease,
    test_no_crash_point_posts_twice,
    test_queuing_checks_the_text_and_marks_the_tweet_replied,
    test_response_figures,
    test_the_token_slot_round_trips,
    tweet,
)
from tweet_triage.live.replies.outbox import OutboxReply, ReplyStatus
from tweet_triage.live.store import (
    LEASE,
    AlreadyRepliedError,
    ConversationStatus,
    TriageStore,
    UserView,
    utc_now,
)

pytestmark = pytest.mark.integration

WINDOW = timedelta(minutes=30)


@pytest.fixture
def store(postgres_url: str) -> Iterator[TriageStore]:
    triage_store = TriageStore(postgres_url)
    assert triage_store.dialect == "postgresql"
    triage_store.migrate()
    yield triage_store
    triage_store.close()


def test_of_many_people_replying_at_once_one_wins(store: TriageStore) -> None:
    people = [store.add_user(f"agent{i}", "h") for i in range(6)]
    store.upsert_scored([scored(555, 0.9)])
    barrier = threading.Barrier(len(people))
    sent: list[str] = []
    told: list[str] = []

    def reply_as(user: UserView) -> None:
        barrier.wait()
        try:
            store.queue_reply("555", user.id, f"On it ({user.name})", window=WINDOW)
            sent.append(user.name)
        except AlreadyRepliedError as exc:
            told.append(exc.by_user)

    threads = [threading.Thread(target=reply_as, args=(user,)) for user in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sent) == 1 and told == sent * (len(people) - 1)
    assert [r.author for r in store.replies_for("555")] == sent
    assert store.count_decisions() == 1 and store.get_tweet("555").assignee == sent[0]


def test_workers_claiming_at_once_take_each_reply_once(store: TriageStore) -> None:
    alice = store.add_user("alice", "h")
    store.upsert_scored([scored(i, 0.9) for i in range(1, 21)])
    for i in range(1, 21):
        store.queue_reply(str(i), alice.id, f"reply {i}", window=WINDOW)
    now = utc_now()
    claims: list[OutboxReply] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        while (reply := store.claim_due(now)) is not None:
            with lock:
                claims.append(reply)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(c.id for c in claims) == list(range(1, 21))  # every reply, each once
    assert {(c.status, c.attempts, c.uncertain) for c in claims} == {
        (ReplyStatus.SENDING, 1, False)
    }
    assert store.claim_due(now + LEASE - timedelta(seconds=1)) is None
    stale = store.claim_due(now + LEASE)
    assert stale is not None and stale.uncertain and stale.attempts == 2


def test_a_sent_reply_and_the_authors_answer(store: TriageStore) -> None:
    alice = store.add_user("alice", "h")
    root = replace(scored(10, 0.9), author_id="42", author_handle="ada", author_name="Ada")
    store.upsert_scored([root, scored(20, 0.95)])
    reply = store.queue_reply("10", alice.id, "We are on it", window=WINDOW)
    claimed = store.claim_due(utc_now())
    assert claimed is not None and claimed.id == reply.id
    store.record_sent(reply.id, "777", utc_now())
    assert store.conversation("10").status is ConversationStatus.REPLIED
    answer = replace(scored(11, 0.01), author_id="42", conversation_id="10")
    store.upsert_scored([answer])
    top, *rest = store.queue()
    assert (top.id, top.author_replied, top.status) == ("11", True, ConversationStatus.OPEN)
    assert [t.id for t in rest] == ["20"] and store.queue_size() == 2
    assert [t.id for t in store.queue(owner="mine", user_id=alice.id)] == ["11"]
    assert store.first_response_times() and store.reply_counts()[ReplyStatus.SENT] == 1
