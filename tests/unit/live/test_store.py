"""The triage store on SQLite; tests/integration/test_triage_store_postgres.py runs the same
tests against a real PostgreSQL server."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from tests.unit.live.conftest import NOW, scored
from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import (
    TOKEN_LIFETIME,
    DatabaseUnavailableError,
    DecidedByOtherError,
    DecisionView,
    DuplicateUserError,
    InvalidUserNameError,
    LastAdminError,
    Role,
    StoreError,
    TriageStore,
    UnknownTweetError,
    UnknownUserError,
    utc_now,
)


def test_migrate_is_safe_to_repeat(store: TriageStore) -> None:
    assert store.migrate() == "0004"
    assert store.migrate() == "0004"
    assert store.count_scored() == 0 and store.rule_tags() == []


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
    assert store.queue_size() == 0 and store.count_decided_tweets() == 1


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


def test_user_names_are_stripped_and_checked(store: TriageStore) -> None:
    assert store.add_user("  spacey ", "h").name == "spacey"
    assert store.user_by_name("spacey") is not None  # the login form strips too
    with pytest.raises(DuplicateUserError):
        store.add_user("spacey\t", "h")
    with pytest.raises(InvalidUserNameError, match="cannot be empty"):
        store.add_user("   ", "h")
    for bad in ("two words", "<b>x</b>", "-dash-first", "x" * 65, "caf\u00e9", "tab\there"):
        with pytest.raises(InvalidUserNameError, match="letters A-Z, digits"):
            store.add_user(bad, "h")
    assert store.add_user("maria.lopez@team-1_", "h").name == "maria.lopez@team-1_"
    assert [u.name for u in store.users()] == ["maria.lopez@team-1_", "spacey"]


def test_the_first_user_is_the_admin_and_one_admin_always_stays(store: TriageStore) -> None:
    alice = store.add_user("alice", "h")
    bob = store.add_user("bob", "h")
    assert (alice.role, bob.role) == (Role.ADMIN, Role.AGENT) and alice.is_admin
    assert store.add_user("carol", "h", role="admin").role == Role.ADMIN
    with pytest.raises(StoreError, match="role 'owner' is not one of admin, agent"):
        store.add_user("dave", "h", role="owner")
    assert store.set_role("carol", Role.AGENT).role == Role.AGENT
    for change in (
        lambda: store.set_role("alice", "agent"),
        lambda: store.disable_user("alice"),
        lambda: store.remove_user("alice"),
    ):
        with pytest.raises(LastAdminError, match="alice is the only active admin"):
            change()
    store.set_role("bob", "admin")
    assert store.disable_user("alice").disabled  # bob is an admin now
    with pytest.raises(UnknownUserError):
        store.set_role("nobody", "agent")


def test_api_tokens_expire(store: TriageStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add_user("alice", "h")
    store.add_token("alice", "ci", "a" * 64)
    (token,) = store.tokens()
    assert token.expires_at - token.created_at == TOKEN_LIFETIME
    assert store.user_for_token("a" * 64) is not None
    later = utc_now() + TOKEN_LIFETIME + timedelta(minutes=1)
    monkeypatch.setattr("tweet_triage.live.store.accounts.utc_now", lambda: later)
    assert store.user_for_token("a" * 64) is None
    with pytest.raises(StoreError, match="give an expiry in the future"):
        store.add_token("alice", "old", "b" * 64, expires_at=later - timedelta(days=1))


def test_a_new_password_revokes_api_tokens(store: TriageStore) -> None:
    store.add_user("alice", "h")
    store.add_token("alice", "ci", "a" * 64, expires_at=utc_now() + timedelta(days=1))
    assert store.user_for_token("a" * 64) is not None
    store.set_password_hash("alice", "new-hash")
    assert store.user_for_token("a" * 64) is None and store.tokens() == []


def test_disabled_users_cannot_log_in_or_use_tokens(store: TriageStore) -> None:
    store.add_user("admin", "h")
    bob = store.add_user("bob", "h")
    store.upsert_scored([scored(1, 0.9)])
    store.decide("1", bob.id, "handled")
    store.add_token("bob", "ci", "a" * 64)
    store.add_session("s" * 64, bob.id, "csrf", utc_now() + timedelta(hours=1))
    disabled = store.disable_user("bob")
    assert disabled.disabled and disabled.disabled_at is not None
    assert store.user_by_name("bob") is None  # so the login refuses them
    assert store.user_for_token("a" * 64) is None
    assert store.session_for("s" * 64) is None
    assert [u.name for u in store.users() if u.disabled] == ["bob"]
    with pytest.raises(StoreError, match="users enable bob"):
        store.add_token("bob", "new", "b" * 64)
    with pytest.raises(StoreError, match=r"1 decision\(s\).*users disable bob"):
        store.remove_user("bob")
    store.enable_user("bob")
    assert store.user_for_token("a" * 64) is not None
    assert store.session_for("s" * 64) is None  # disabling ended the session for good
    assert [(d.tweet_id, d.user_name) for d in store.decisions()] == [("1", "bob")]


def test_a_user_who_never_decided_can_be_removed(store: TriageStore) -> None:
    store.add_user("admin", "h")
    carol = store.add_user("carol", "h")
    store.add_token("carol", "ci", "a" * 64)
    store.add_session("s" * 64, carol.id, "csrf", utc_now() + timedelta(hours=1))
    store.remove_user("carol")
    assert [u.name for u in store.users()] == ["admin"]
    assert store.tokens() == [] and store.session_for("s" * 64) is None
    with pytest.raises(UnknownUserError):
        store.remove_user("carol")


def test_a_decision_says_who_decided_first(store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.9)])
    alice = store.add_user("alice", "h")
    bob = store.add_user("bob", "h")
    first = store.decide("1", alice.id, "handled", decided_at=NOW)
    assert first.earlier_by_other is None
    second = store.decide("1", bob.id, Decision.NOT_FOR_US, decided_at=NOW + timedelta(seconds=1))
    assert second.earlier_by_other == DecisionView(
        first.id, "1", "alice", Decision.HANDLED, NOW, None
    )
    again = store.decide("1", bob.id, "needed_us", decided_at=NOW + timedelta(seconds=2))
    assert again.earlier_by_other is None  # bob corrects himself
    assert store.latest_decision("1") == DecisionView(
        again.id, "1", "bob", Decision.NEEDED_US, again.decided_at
    )
    with pytest.raises(DecidedByOtherError, match="bob decided tweet 1 first") as refused:
        store.decide("1", alice.id, "handled", replace_others=False)
    assert refused.value.earlier == store.latest_decision("1")  # nothing was recorded
    assert len(store.decisions()) == 3
    store.upsert_scored([scored(2, 0.9)])
    assert store.latest_decision("2") is None
    assert store.decide("2", alice.id, "handled", replace_others=False).earlier_by_other is None


def test_two_people_deciding_at_once_one_is_told(store: TriageStore) -> None:
    store.upsert_scored([scored(i, 0.9) for i in range(1, 9)])
    people = [store.add_user("alice", "h"), store.add_user("bob", "h")]
    for tweet in range(1, 9):
        start = threading.Barrier(2)

        def decide(user_id: int, tweet_id: str = str(tweet), start=start) -> DecisionView:
            start.wait()
            return store.decide(tweet_id, user_id, "handled")

        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(decide, [p.id for p in people]))
        told = [r for r in results if r.earlier_by_other is not None]
        assert len(told) == 1, f"tweet {tweet}: {results}"
        other = next(r for r in results if r is not told[0])
        assert told[0].earlier_by_other.user_name == other.user_name


def test_counts_and_latencies_are_computed_by_the_database(store: TriageStore) -> None:
    minutes = [1, 2, 5, 10, 30]  # arrival to first decision, one tweet each
    store.upsert_scored([scored(i, 0.9, minutes_ago=m + 60) for i, m in enumerate(minutes, 1)])
    store.upsert_scored([scored(9, 0.9, minutes_ago=600)])
    alice = store.add_user("alice", "h")
    bob = store.add_user("bob", "h")
    store.decide("9", alice.id, "handled", decided_at=NOW - timedelta(hours=5))  # before window
    store.decide("9", bob.id, "needed_us", decided_at=NOW)  # not a first decision
    for i in range(1, 6):
        store.decide(str(i), alice.id, "handled", decided_at=NOW - timedelta(minutes=60))
    store.decide("1", bob.id, "not_for_us", decided_at=NOW)  # a second look: no new latency
    since = NOW - timedelta(hours=2)

    assert store.count_decisions() == 8
    assert store.count_decisions(since=since) == 7
    assert store.count_decisions(user_id=bob.id) == 2
    assert store.count_decisions(user_id=alice.id, since=since) == 5
    assert store.count_decided_tweets() == 6
    assert store.decision_counts(since) == {
        Decision.HANDLED: 5,
        Decision.NEEDED_US: 1,
        Decision.NOT_FOR_US: 1,
    }
    stats = store.decision_latency(since, quantiles=(0.5, 0.95), buckets=(400, 60, 3600))
    assert stats.count == 5
    assert stats.total_seconds == pytest.approx(60 * sum(minutes), abs=0.01)
    assert stats.quantiles[0.5] == pytest.approx(300, abs=0.01)
    assert stats.quantiles[0.95] == pytest.approx(600 + (1800 - 600) * 0.8, abs=0.01)
    assert stats.buckets == [(60.0, 1), (400.0, 3), (3600.0, 5)]
    everything = store.decision_latency()
    assert everything.count == 6 and everything.quantiles[0.5] == pytest.approx(450, abs=0.01)
    empty = store.decision_latency(NOW + timedelta(days=1), buckets=(60,))
    assert (empty.count, empty.quantiles, empty.buckets) == (0, {}, [(60.0, 0)])
    with pytest.raises(StoreError, match="between 0 and 1"):
        store.decision_latency(quantiles=(95,))


def test_window_queries_search_the_decisions_by_index(store: TriageStore) -> None:
    """A windowed page reads the decisions in its window, not every decision ever made."""
    store.upsert_scored([scored(i, 0.9, minutes_ago=i) for i in range(1, 50)])
    alice = store.add_user("alice", "h")
    for i in range(1, 50):
        store.decide(str(i), alice.id, "handled", decided_at=NOW - timedelta(days=i))
    statements: list[tuple[str, object]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    since = NOW - timedelta(hours=1)
    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        store.dashboard(since)
        store.count_decisions(user_id=alice.id, since=since)
        store.decision_latency(since, quantiles=(0.5, 0.9), buckets=(60,))
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        plans = [
            " / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]
    scans = [p for p in plans if "SCAN decisions" in p or "SCAN before" in p]
    assert scans == [], scans


def test_upgrading_a_store_makes_its_first_user_admin_and_dates_its_tokens(
    tmp_path: Path,
) -> None:
    from alembic import command
    from alembic.config import Config

    from tweet_triage.live.store import MIGRATIONS_DIR

    store = TriageStore(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for user_id, name in ((1, "first"), (2, "second")):
            connection.execute(
                text(
                    "INSERT INTO users (id, name, password_hash, created_at) "
                    "VALUES (:id, :name, 'h', '2026-01-01 00:00:00.000000')"
                ),
                {"id": user_id, "name": name},
            )
        connection.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at) "
                "VALUES (2, 'ci', :hash, '2026-01-01 00:00:00.000000')"
            ),
            {"hash": "a" * 64},
        )
        connection.execute(
            text(
                "INSERT INTO scored_tweets VALUES ('1', :t, NULL, :t, :t, 'text', 'url', '[]', "
                "0.9, 1, 'v1')"
            ),
            {"t": "2026-01-01 00:00:00.000000"},
        )
        connection.execute(
            text(
                "INSERT INTO decisions (tweet_id, user_id, decision, decided_at) "
                "VALUES ('1', 2, 'handled', '2026-01-01 00:01:00.000000')"
            )
        )
    assert store.migrate() == "0004"
    assert [(d.tweet_id, d.user_name) for d in store.decisions()] == [("1", "second")]
    assert store.queue_size() == 0 and store.count_decided_tweets() == 1
    assert store.decision_latency().total_seconds == pytest.approx(60, abs=0.01)
    assert {u.name: u.role for u in store.users()} == {"first": Role.ADMIN, "second": Role.AGENT}
    (token,) = store.tokens()
    assert token.expires_at - utc_now() > TOKEN_LIFETIME - timedelta(minutes=5)
    assert store.user_for_token("a" * 64) is not None
    store.close()


def test_undecided_closest_to_a_score_comes_from_both_sides(store: TriageStore) -> None:
    scores = {1: 0.10, 2: 0.42, 3: 0.47, 4: 0.50, 5: 0.55, 6: 0.61, 7: 0.95}
    store.upsert_scored([scored(i, p) for i, p in scores.items()])
    alice = store.add_user("alice", "h")
    store.decide("4", alice.id, "handled")
    closest = store.undecided(closest_to=0.5, limit=4)
    assert [t.id for t in closest] == ["3", "5", "2", "6"]
    assert [t.id for t in store.undecided(closest_to=0.0, limit=2)] == ["1", "2"]
    assert sorted(t.id for t in store.undecided()) == ["1", "2", "3", "5", "6", "7"]


def test_undo_reopens_a_tweet_and_restores_its_first_decision(store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.9, minutes_ago=10)])
    alice = store.add_user("alice", "h")
    bob = store.add_user("bob", "h")
    store.decide("1", bob.id, "handled", decided_at=NOW + timedelta(minutes=5))
    store.decide("1", alice.id, "needed_us", decided_at=NOW)  # recorded later, decided earlier
    assert store.decision_latency().quantiles[0.5] == pytest.approx(600, abs=0.01)
    assert store.undo_last_decision("1", alice.id)
    assert store.decision_latency().quantiles[0.5] == pytest.approx(900, abs=0.01)
    assert store.queue_size() == 0
    assert store.undo_last_decision("1", bob.id) and not store.undo_last_decision("1", bob.id)
    assert [t.id for t in store.queue()] == ["1"] and store.count_decided_tweets() == 0


def test_the_random_pool_is_a_fresh_sample_of_open_tweets(store: TriageStore) -> None:
    store.upsert_scored([scored(i, 0.3) for i in range(1, 201)])
    alice = store.add_user("alice", "h")
    store.decide("7", alice.id, "handled")
    seen: set[str] = set()
    for _ in range(30):
        sample = [t.id for t in store.undecided(limit=10)]
        assert len(set(sample)) == 10 and "7" not in sample
        seen.update(sample)
    assert len(seen) > 100  # a fixed order would show the same 10 every time
    everything = [t.id for t in store.undecided(limit=500)]  # wraps around the order
    assert sorted(everything, key=int) == [str(i) for i in range(1, 201) if i != 7]
