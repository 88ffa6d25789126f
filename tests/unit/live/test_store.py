"""The triage store on SQLite; tests/integration/test_triage_store_postgres.py runs the same
tests against a real PostgreSQL server."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.unit.live.conftest import NOW, scored
from tweet_triage.live.store import (
    DatabaseUnavailableError,
    DuplicateUserError,
    StoreError,
    TriageStore,
    UnknownTweetError,
    UnknownUserError,
)


def test_migrate_is_safe_to_repeat(store: TriageStore) -> None:
    assert store.migrate() == "0001"
    assert store.migrate() == "0001"
    assert store.count_scored() == 0


def test_upsert_is_idempotent_by_tweet_id(store: TriageStore) -> None:
    batch = [scored(1, 0.9, tags=("jwst", "nasa")), scored(2, 0.1), scored(1, 0.8)]
    assert store.upsert_scored(batch) == 2  # the batch's last version of tweet 1 wins
    assert store.upsert_scored(batch) == 2
    assert store.count_scored() == 2
    assert store.get_tweet("1").p_needs_support == pytest.approx(0.8)
    with store.engine.connect() as connection:
        tags = connection.execute(text("SELECT count(*) FROM tweet_tags")).scalar()
    assert tags == 2  # jwst for each (the last version of 1 has no nasa), not doubled


def test_rescoring_keeps_arrival_and_decisions(store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.9, minutes_ago=10)])
    user = store.add_user("alice", "argon2-hash")
    store.decide("1", user.id, "handled")
    later = scored(1, 0.95, minutes_ago=0, version="2")
    store.upsert_scored([later])
    tweet = store.get_tweet("1")
    assert tweet.arrived_at == NOW - timedelta(minutes=10)
    assert tweet.model_version == "2"
    assert tweet.decision == "handled"


def test_stored_tweet_round_trips(store: TriageStore) -> None:
    record = scored(1234567890123456789, 0.73, tags=("nasa", "jwst"), text="Ünïcode ✨ tweet")
    store.upsert_scored([record])
    tweet = store.get_tweet(record.id)
    assert tweet.text == "Ünïcode ✨ tweet"
    assert tweet.url == "https://x.com/i/web/status/1234567890123456789"
    assert tweet.rule_tags == ["jwst", "nasa"]
    assert tweet.created_at == record.created_at and tweet.created_at.tzinfo is not None
    assert tweet.flagged and tweet.decision is None


def test_queue_orders_filters_and_drops_decided(store: TriageStore) -> None:
    store.upsert_scored(
        [
            scored(1, 0.6, minutes_ago=1, tags=("jwst",)),
            scored(2, 0.9, minutes_ago=30, tags=("nasa",)),
            scored(3, 0.7, minutes_ago=120, tags=("jwst", "nasa")),
            scored(4, 0.2, minutes_ago=1),  # not flagged
        ]
    )
    assert [t.id for t in store.queue()] == ["2", "3", "1"]
    assert [t.id for t in store.queue(order="newest")] == ["1", "2", "3"]
    assert [t.id for t in store.queue(tag="nasa")] == ["2", "3"]
    assert [t.id for t in store.queue(since=NOW - timedelta(hours=1))] == ["2", "1"]
    user = store.add_user("alice", "h")
    store.decide("2", user.id, "not_for_us")
    assert [t.id for t in store.queue()] == ["3", "1"]
    assert store.queue_size() == 2
    assert store.rule_tags() == ["jwst", "nasa"]


def test_all_tweets_view_shows_the_latest_decision(store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.2), scored(2, 0.9, minutes_ago=5)])
    user = store.add_user("bob", "h")
    store.decide("1", user.id, "handled", decided_at=NOW)
    store.decide("1", user.id, "needed_us", decided_at=NOW + timedelta(seconds=1))
    views = {t.id: t for t in store.tweets()}
    assert views["1"].decision == "needed_us" and views["2"].decision is None
    assert [t.id for t in store.tweets(flagged=False)] == ["1"]
    decisions = store.decisions()
    assert [(d.tweet_id, d.user_name, d.decision) for d in decisions] == [
        ("1", "bob", "handled"),
        ("1", "bob", "needed_us"),
    ]


def test_decisions_on_unknown_tweets_or_bad_values_are_refused(store: TriageStore) -> None:
    user = store.add_user("alice", "h")
    with pytest.raises(UnknownTweetError, match="'999'"):
        store.decide("999", user.id, "handled")
    store.upsert_scored([scored(1, 0.9)])
    with pytest.raises(StoreError, match="'maybe' is not one of"):
        store.decide("1", user.id, "maybe")
    assert store.decisions() == []


def test_non_numeric_tweet_ids_are_refused(store: TriageStore) -> None:
    with pytest.raises(StoreError, match="'abc' is not a numeric"):
        store.upsert_scored([scored("abc", 0.5)])


def test_users_tokens_and_sessions(store: TriageStore) -> None:
    alice = store.add_user("alice", "hash-1")
    with pytest.raises(DuplicateUserError, match="'alice' already exists"):
        store.add_user("alice", "hash-2")
    with pytest.raises(UnknownUserError, match="triage users add carol"):
        store.add_token("carol", "ci", "f" * 64)
    token_id = store.add_token("alice", "ci", "a" * 64)
    found = store.user_for_token("a" * 64)
    assert found is not None and found.name == "alice"
    assert store.user_for_token("b" * 64) is None
    assert store.tokens()[0].last_used_at is not None
    assert store.revoke_token(token_id) and store.user_for_token("a" * 64) is None

    store.add_session("c" * 64, alice.id, "csrf", NOW + timedelta(days=3650))
    web = store.session_for("c" * 64)
    assert web is not None and web.user.name == "alice" and web.csrf_token == "csrf"
    store.add_session("d" * 64, alice.id, "csrf2", NOW - timedelta(seconds=1))
    assert store.session_for("d" * 64) is None  # expired
    store.set_password_hash("alice", "hash-3")  # a new password ends every session
    assert store.session_for("c" * 64) is None
    assert store.user_by_name("alice").password_hash == "hash-3"


def test_dashboard_counts_hours_tags_queue_and_decision_time(store: TriageStore) -> None:
    store.upsert_scored(
        [
            scored(1, 0.9, minutes_ago=10, tags=("jwst",)),
            scored(2, 0.1, minutes_ago=20, tags=("jwst", "nasa")),
            scored(3, 0.8, minutes_ago=70, tags=("nasa",)),
            scored(4, 0.8, minutes_ago=60 * 48),  # outside the window
        ]
    )
    user = store.add_user("alice", "h")
    store.decide("1", user.id, "handled", decided_at=NOW + timedelta(minutes=2))  # 12 min
    store.decide("3", user.id, "not_for_us", decided_at=NOW)  # 70 min
    stats = store.dashboard(since=NOW - timedelta(hours=24))
    assert stats.scored == 3 and stats.flagged == 2
    assert [(h.hour.hour, h.total, h.flagged) for h in stats.hours] == [(10, 1, 1), (11, 2, 1)]
    assert {t.tag: (t.total, t.flagged) for t in stats.tags} == {"jwst": (2, 1), "nasa": (2, 1)}
    assert stats.queue_size == 1  # tweet 4, older than the window, is still open
    assert stats.decisions == {"handled": 1, "not_for_us": 1}
    assert stats.median_decision_seconds == pytest.approx((12 * 60 + 70 * 60) / 2)
    assert stats.latest_model_version == "1"


def test_unusable_database_is_one_clear_error(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the database folder should be")
    with pytest.raises(DatabaseUnavailableError, match="TRIAGE_DATABASE_URL or TT_STATE_DIR"):
        TriageStore(f"sqlite:///{blocked / 'triage.db'}")
    folder_as_file = TriageStore(f"sqlite:///{tmp_path}")  # a folder is no database file
    with pytest.raises(DatabaseUnavailableError, match="unable to open database file"):
        folder_as_file.migrate()


def test_unsupported_url_is_refused() -> None:
    with pytest.raises(StoreError, match="supports sqlite and postgresql"):
        TriageStore("mysql://u:p@localhost/db")


def test_the_migrations_build_exactly_the_models_schema(store: TriageStore) -> None:
    """A model change without its migration (or the reverse) fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from tweet_triage.live.store import Base

    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
