"""Conversations on SQLite: the author's answer reopening one at the queue's top, ownership
and the queue's owner filters, the conversation view, presence, notes, saved replies, and
the upgrade of a store that holds tweets."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.unit.live.conftest import NOW, scored
from tweet_triage.live.replies.outbox import ReplyStatus
from tweet_triage.live.store import (
    Activity,
    ConversationStatus,
    DuplicateShortcodeError,
    InvalidShortcodeError,
    ScoredRecord,
    StoreError,
    TriageStore,
    UnknownSavedReplyError,
    UnknownTweetError,
    UnknownUserError,
    UserView,
    utc_now,
)

WINDOW = timedelta(minutes=30)


def by(
    author: str, tweet_id: int, p: float, *, conversation: int | None = None, minutes_ago: float = 0
) -> ScoredRecord:
    return replace(
        scored(tweet_id, p, minutes_ago=minutes_ago),
        author_id=author,
        author_name=f"{author.title()} Name",
        author_handle=author,
        conversation_id=None if conversation is None else str(conversation),
    )


@pytest.fixture
def team(store: TriageStore) -> tuple[UserView, UserView]:
    return store.add_user("alice", "h"), store.add_user("bob", "h")


def replied(store: TriageStore, tweet_id: str, user: UserView) -> None:
    """A reply to the tweet, sent."""
    reply = store.queue_reply(tweet_id, user.id, "We are on it", window=WINDOW)
    assert store.claim_due(utc_now()) is not None
    store.record_sent(reply.id, f"x{reply.id}", utc_now())


def test_the_authors_answer_reopens_the_conversation_at_the_top(
    store: TriageStore, team: tuple[UserView, UserView]
) -> None:
    alice, _bob = team
    store.upsert_scored(
        [by("ada", 10, 0.9, minutes_ago=30), by("cy", 20, 0.95), by("dee", 30, 0.8)]
    )
    replied(store, "10", alice)
    assert store.conversation("10").status is ConversationStatus.REPLIED
    # Someone else in the thread, and a rescore of the replied tweet, reopen nothing.
    store.upsert_scored([by("eve", 11, 0.1, conversation=10), by("ada", 10, 0.9, minutes_ago=30)])
    assert store.conversation("10").status is ConversationStatus.REPLIED
    assert [t.id for t in store.queue()] == ["20", "30"]

    answer = by("ada", 12, 0.05, conversation=10)  # a low score: the model would not flag it
    store.upsert_scored([answer])
    store.upsert_scored([answer])  # replayed: still one answer
    queue = store.queue()
    assert [t.id for t in queue] == ["12", "20", "30"] and store.queue_size() == 3
    top = queue[0]
    assert top.author_replied and not top.flagged and top.status is ConversationStatus.OPEN
    assert (top.assignee, top.conversation_id, top.author_handle) == ("alice", "10", "ada")
    assert top.as_json()["author_replied"] is True
    conversation = store.conversation("12")
    assert conversation.status is ConversationStatus.OPEN and conversation.reopened_at is not None
    assert [t.id for t in store.queue(owner="mine", user_id=alice.id)] == ["12"]

    store.resolve("12", alice.id)
    assert [t.id for t in store.queue()] == ["20", "30"]
    assert store.conversation("10").status is ConversationStatus.RESOLVED
    store.upsert_scored([by("ada", 13, 0.05, conversation=10)])  # answering a resolved one
    assert [t.id for t in store.queue()] == ["13", "20", "30"]


def test_ownership_and_the_queues_owner_filters(
    store: TriageStore, team: tuple[UserView, UserView]
) -> None:
    alice, bob = team
    store.upsert_scored([scored(1, 0.9), scored(2, 0.8, tags=("nasa",)), scored(3, 0.7)])
    store.claim("1", alice.id)
    store.assign("2", "bob", alice.id)
    with pytest.raises(UnknownUserError, match="'nobody'"):
        store.assign("3", "nobody", alice.id)
    with pytest.raises(UnknownTweetError):
        store.claim("404", alice.id)

    def ids(**filters: object) -> list[str]:
        return [t.id for t in store.queue(**filters)]  # type: ignore[arg-type]

    assert ids() == ["1", "2", "3"]
    assert ids(owner="mine", user_id=alice.id) == ["1"]
    assert ids(owner="mine", user_id=bob.id) == ["2"]
    assert ids(owner="unassigned") == ["3"]
    assert store.queue_size(owner="unassigned") == 1 and store.queue_size() == 3
    assert store.queue_size(owner="mine", user_id=bob.id, tag="nasa") == 1
    with pytest.raises(StoreError, match="not one of all, mine, unassigned"):
        store.queue(owner="theirs")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="user_id"):
        store.queue_size(owner="mine")
    view = store.get_tweet("2")
    assert (view.status, view.assignee) == (ConversationStatus.ASSIGNED, "bob")

    store.release("2", alice.id)  # not alice's: nothing changes
    assert store.get_tweet("2").assignee == "bob"
    store.release("2", bob.id)
    assert (store.get_tweet("2").status, store.get_tweet("2").assignee) == (
        ConversationStatus.OPEN,
        None,
    )
    assert ids(owner="unassigned") == ["2", "3"]


def test_the_queue_page_reads_what_queue_and_queue_size_give(
    store: TriageStore, team: tuple[UserView, UserView]
) -> None:
    alice, bob = team
    store.upsert_scored(
        [
            by("ada", 10, 0.9, minutes_ago=50),
            *(by("cy", 20 + i, 0.6 + i / 100, minutes_ago=40 - i) for i in range(4)),
            by("dee", 30, 0.7, minutes_ago=5),
            scored(40, 0.95, tags=("nasa",)),
        ]
    )
    replied(store, "10", alice)
    for tweet_id in ("20", "21", "22", "23"):
        store.claim(tweet_id, alice.id)
    store.claim("30", bob.id)
    # ada answers twice, not flagged
    store.upsert_scored(
        [
            by("ada", 12, 0.05, conversation=10, minutes_ago=1),
            by("ada", 11, 0.1, conversation=10, minutes_ago=2),
        ]
    )

    for owner in ("all", "mine", "unassigned"):
        for order in ("likely", "newest"):
            for tag in (None, "nasa"):
                page = store.queue_page(
                    order=order, tag=tag, owner=owner, user_id=alice.id, limit=3
                )
                filters = {"tag": tag, "owner": owner, "user_id": alice.id}
                assert page.tweets == store.queue(order=order, limit=3, **filters)
                assert page.queue_size == store.queue_size() == 8
                assert page.filtered_size == store.queue_size(**filters)

    mine = store.queue_page(owner="mine", user_id=alice.id, limit=4)
    # The author's answers first (newest first), then the flagged tweets, most likely first.
    assert [t.id for t in mine.tweets] == ["12", "11", "23", "22"]
    assert mine.filtered_size == 6 and mine.queue_size == 8
    newest = store.queue_page(owner="mine", user_id=alice.id, order="newest")
    assert [t.id for t in newest.tweets] == ["12", "11", "23", "22", "21", "20"]
    nobody = store.add_user("carol", "h")
    assert store.queue_page(owner="mine", user_id=nobody.id).filtered_size == 0


def test_the_conversation_view_in_time_order(
    store: TriageStore, team: tuple[UserView, UserView]
) -> None:
    alice, bob = team
    store.upsert_scored(
        [
            by("ada", 10, 0.9, minutes_ago=30),
            by("eve", 11, 0.2, conversation=10, minutes_ago=20),
            by("fay", 99, 0.9, minutes_ago=10),  # another conversation
        ]
    )
    replied(store, "10", alice)
    note = store.add_note("11", bob.id, "  eve is a known tester  ")
    assert note.text == "eve is a known tester" and note.user == "bob"
    with pytest.raises(StoreError, match="note is empty"):
        store.add_note("10", bob.id, "  ")
    after_the_reply = -((utc_now() - NOW).total_seconds() / 60 + 1)
    store.upsert_scored([by("ada", 12, 0.1, conversation=10, minutes_ago=after_the_reply)])

    conversation = store.conversation("11")  # any tweet of it finds it
    assert conversation.id == conversation.conversation_id == "10"
    assert [t.id for t in conversation.tweets] == ["10", "11", "12"]
    assert (conversation.author_name, conversation.author_handle) == ("Ada Name", "ada")
    assert [r.status for r in conversation.replies] == [ReplyStatus.SENT]
    assert [n.text for n in conversation.notes] == ["eve is a known tester"]
    assert conversation.assignee == "alice" and conversation.status is ConversationStatus.OPEN
    body = conversation.as_json()
    assert [item["kind"] for item in body["timeline"]] == ["tweet", "tweet", "reply", "tweet"]
    assert body["author"] == {"id": "ada", "name": "Ada Name", "handle": "ada"}
    assert body["replies"][0]["author"] == "alice" and body["status"] == "open"
    assert store.notes("11") == conversation.notes and store.notes("10") == []
    with pytest.raises(UnknownTweetError):
        store.conversation("404")


def test_presence_shows_others_within_the_window(
    store: TriageStore, team: tuple[UserView, UserView]
) -> None:
    alice, bob = team
    store.upsert_scored([scored(1, 0.9)])
    store.touch_presence("1", alice.id, "drafting")
    store.touch_presence("1", bob.id, Activity.VIEWING)
    store.touch_presence("1", bob.id, Activity.VIEWING)  # a heartbeat refreshes, not adds
    seen = store.presence("1", exclude_user_id=bob.id)
    assert [(p.user, p.activity) for p in seen] == [("alice", Activity.DRAFTING)]
    assert [p.user for p in store.presence("1")] == ["alice", "bob"]
    later = utc_now() + timedelta(seconds=11)
    assert store.presence("1", now=later) == []
    assert len(store.presence("1", now=later, within=timedelta(seconds=30))) == 2
    with pytest.raises(StoreError, match="not one of viewing, drafting"):
        store.touch_presence("1", alice.id, "typing")
    with pytest.raises(UnknownTweetError):
        store.touch_presence("404", alice.id, "viewing")


def test_saved_replies_and_their_shortcodes(
    store: TriageStore, team: tuple[UserView, UserView]
) -> None:
    alice, _bob = team
    thanks = store.create_saved_reply(
        " Thanks ", "Thank you", "Thanks {author} ({handle}) - {agent}", alice.id
    )
    assert thanks.shortcode == "/thanks" and thanks.created_by == "alice"
    for bad in ("/", "/two words", "/thanks!", "/" + "x" * 41, "/café"):
        with pytest.raises(InvalidShortcodeError, match=r"e\.g\. /thanks"):
            store.create_saved_reply(bad, "t", "x", alice.id)
    with pytest.raises(DuplicateShortcodeError, match="'/thanks'"):
        store.create_saved_reply("/THANKS", "again", "x", alice.id)
    with pytest.raises(StoreError, match="text is empty"):
        store.create_saved_reply("/empty", "Empty", " ", alice.id)
    status = store.create_saved_reply("/status-page_2", "Status", "See the status page", alice.id)
    assert [s.shortcode for s in store.saved_replies()] == ["/status-page_2", "/thanks"]
    assert store.saved_reply_by_shortcode("/Thanks") == thanks
    assert (
        store.saved_reply_by_shortcode("/nope") is None
        and store.saved_reply_by_shortcode("!") is None
    )
    assert thanks.expand(author="Ada", handle="ada", agent="alice") == "Thanks Ada (@ada) - alice"

    edited = store.update_saved_reply(status.id, title="Status page", shortcode="/status")
    assert (edited.shortcode, edited.title, edited.text) == (
        "/status",
        "Status page",
        "See the status page",
    )
    with pytest.raises(DuplicateShortcodeError):
        store.update_saved_reply(status.id, shortcode="/thanks")
    store.upsert_scored([scored(1, 0.9)])
    reply = store.queue_reply(
        "1", alice.id, "See the status page", saved_reply_id=status.id, window=WINDOW
    )
    store.delete_saved_reply(status.id)
    assert [s.shortcode for s in store.saved_replies()] == ["/thanks"]
    assert store.reply(reply.id).saved_reply_id is None  # the reply keeps its text
    with pytest.raises(UnknownSavedReplyError):
        store.delete_saved_reply(status.id)
    with pytest.raises(UnknownSavedReplyError):
        store.update_saved_reply(status.id, title="gone")
    with pytest.raises(UnknownSavedReplyError):
        store.queue_reply("1", alice.id, "x", confirm=True, saved_reply_id=status.id, window=WINDOW)


def test_upgrading_a_store_with_tweets_gives_each_its_conversation(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    from tweet_triage.live.store import MIGRATIONS_DIR

    store = TriageStore(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        connection.execute(
            text(
                "INSERT INTO scored_tweets (id, created_at, scored_at, arrived_at, text, url, "
                "rule_tags, p_needs_support, flagged, model_version, sample_key) VALUES "
                "('1', :t, :t, :t, 'text', 'url', '[]', 0.9, 1, 'v1', 0.5)"
            ),
            {"t": "2026-01-01 00:00:00.000000"},
        )
        connection.execute(
            text("INSERT INTO users (name, password_hash, created_at) VALUES ('old', 'h', :t)"),
            {"t": "2026-01-01 00:00:00.000000"},
        )
        connection.execute(
            text(
                "INSERT INTO decisions (tweet_id, user_id, decision, decided_at) "
                "VALUES ('1', 1, 'handled', '2026-01-01 00:01:00.000000')"
            )
        )
    store.migrate()
    tweet = store.get_tweet("1")
    assert (tweet.conversation_id, tweet.status, tweet.author_replied) == (
        "1",
        ConversationStatus.OPEN,
        False,
    )
    assert store.conversation("1").opened_at.year == 2026
    assert [d.source.value for d in store.decisions()] == ["queue"]
    store.close()


def test_new_tweets_without_thread_fields_are_their_own_conversation(store: TriageStore) -> None:
    store.upsert_scored([scored(5, 0.9, minutes_ago=5)])
    conversation = store.conversation("5")
    assert conversation.id == "5" and conversation.author_id is None
    assert conversation.opened_at == NOW - timedelta(minutes=5)
    assert store.sla_breaches(timedelta(minutes=1), NOW) == 1
