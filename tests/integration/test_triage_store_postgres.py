"""The triage store and the inbox against a real PostgreSQL server on loopback.

The store tests of tests/unit/live/test_store.py run here unchanged (same expectations,
other dialect: ON CONFLICT upserts, date_trunc hours, JSONB tags, timestamptz).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import PASSWORD, KeywordScorer, log_in, scored
from tests.unit.live.test_store import (  # noqa: F401 - collected here against PostgreSQL
    test_a_decision_says_who_decided_first,
    test_a_new_password_revokes_api_tokens,
    test_a_user_who_never_decided_can_be_removed,
    test_all_tweets_view_shows_the_latest_decision,
    test_api_tokens_expire,
    test_counts_and_latencies_are_computed_by_the_database,
    test_dashboard_counts_hours_tags_queue_and_decision_time,
    test_decisions_on_unknown_tweets_or_bad_values_are_refused,
    test_disabled_users_cannot_log_in_or_use_tokens,
    test_migrate_is_safe_to_repeat,
    test_queue_orders_filters_and_drops_decided,
    test_rescoring_keeps_arrival_and_decisions,
    test_stored_tweet_round_trips,
    test_the_first_user_is_the_admin_and_one_admin_always_stays,
    test_the_migrations_build_exactly_the_models_schema,
    test_the_random_pool_is_a_fresh_sample_of_open_tweets,
    test_two_people_deciding_at_once_one_is_told,
    test_undecided_closest_to_a_score_comes_from_both_sides,
    test_undo_reopens_a_tweet_and_restores_its_first_decision,
    test_upsert_is_idempotent_by_tweet_id,
    test_user_names_are_stripped_and_checked,
    test_users_tokens_and_sessions,
)
from tests.unit.live.test_store_conversations import (  # noqa: F401 - against PostgreSQL too
    team,
    test_the_queue_page_reads_what_queue_and_queue_size_give,
)
from tweet_triage.hosts.processes import free_port
from tweet_triage.live.store import DatabaseUnavailableError, TriageStore
from tweet_triage.live.web.app import InboxConfig, create_app
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import hash_password

pytestmark = pytest.mark.integration


@pytest.fixture
def store(postgres_url: str) -> Iterator[TriageStore]:
    triage_store = TriageStore(postgres_url)
    assert triage_store.dialect == "postgresql"
    triage_store.migrate()
    yield triage_store
    triage_store.close()


def test_plain_postgresql_urls_use_psycopg_3(postgres_url: str) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    store = TriageStore(plain)
    assert store.engine.dialect.driver == "psycopg"
    assert store.migrate() == "0004"


def test_concurrent_writers_of_the_same_tweets_leave_one_row_each(store: TriageStore) -> None:
    batches = [[scored(i, (i + k) % 10 / 10) for i in range(200)] for k in range(6)]
    with ThreadPoolExecutor(3) as pool:
        written = list(pool.map(store.upsert_scored, batches))
    assert written == [200] * 6
    assert store.count_scored() == 200


def test_the_inbox_works_over_postgresql(store: TriageStore) -> None:
    store.add_user("alice", hash_password(PASSWORD))
    store.upsert_scored([scored(1, 0.9), scored(2, 0.7), scored(3, 0.1)])
    scorer = KeywordScorer()
    app = create_app(store, ModelProvider(lambda: ("1", None), lambda _: scorer), InboxConfig())
    with TestClient(app) as client:
        csrf = log_in(client)
        assert "tweet 1:" in client.get("/").text
        form = {"tweet_id": "1", "decision": "handled", "csrf_token": csrf}
        assert client.post("/decisions", data=form, follow_redirects=False).status_code == 303
        assert "tweet 1:" not in client.get("/").text
        assert client.get("/dashboard?window=all").status_code == 200
    assert [(d.tweet_id, d.user_name) for d in store.decisions()] == [("1", "alice")]


def test_an_unreachable_server_is_one_clear_error_without_the_password() -> None:
    store = TriageStore(f"postgresql://triage:s3cret-pw@127.0.0.1:{free_port()}/triage")
    with pytest.raises(DatabaseUnavailableError) as caught:
        store.migrate()
    message = str(caught.value)
    assert "TRIAGE_DATABASE_URL" in message and "s3cret-pw" not in message
