"""The dashboard's answering side (the open queue hour by hour beside first responses, SLA
breaches, replies per teammate) and the scorer's card."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.live.conftest import log_in, scored
from tweet_triage.live.store import TriageStore, UserView, utc_now
from tweet_triage.live.web.app import create_app
from tweet_triage.live.web.deps import InboxConfig
from tweet_triage.live.web.scoring import ModelProvider


def _arrived(tweet_id: int, p: float, hours_ago: float, now: datetime | None = None) -> Any:
    """A tweet that reached the store `hours_ago` before now (not the fixed test clock)."""
    at = (now or utc_now()) - timedelta(hours=hours_ago)
    record = scored(tweet_id, p)
    return replace(record, created_at=at, received_at=at, scored_at=at)


def _send_reply(store: TriageStore, tweet_id: str, user_id: int, after: timedelta) -> None:
    """A reply to the tweet, sent `after` its arrival."""
    store.queue_reply(tweet_id, user_id, "Thanks, we are on it", window=timedelta(minutes=30))
    claimed = store.claim_due(utc_now())
    assert claimed is not None
    store.record_sent(claimed.id, f"9{tweet_id}", store.get_tweet(tweet_id).arrived_at + after)


def test_open_queue_per_hour_is_counted_back_from_the_queue_now(
    store: TriageStore, alice: UserView
) -> None:
    now = utc_now().replace(minute=30, second=0, microsecond=0)
    hours = {1: 3.9, 2: 2.9, 3: 0.4, 4: 1.0}  # tweet 4 is not flagged
    store.upsert_scored([_arrived(i, 0.1 if i == 4 else 0.9, h, now) for i, h in hours.items()])
    store.decide("1", alice.id, "handled", decided_at=now - timedelta(hours=1.9))
    stats = store.dashboard(now - timedelta(hours=4), now=now)
    # Hour by hour from 4 hours ago: tweet 1 arrives, tweet 2 joins, 1 is decided, nothing
    # happens (4 is not flagged), 3 arrives in the current hour.
    assert [q.open for q in stats.open_queue] == [1, 2, 1, 1, 2]
    assert stats.open_queue[-1].hour == now.replace(minute=0)
    assert stats.open_queue[-1].open == store.queue_size()


def test_dashboard_shows_first_responses_sla_breaches_and_replies_per_person(
    client: TestClient, store: TriageStore, alice: UserView, password_hash: str
) -> None:
    bob = store.add_user("bob", password_hash)
    store.upsert_scored([_arrived(1, 0.9, 5), _arrived(2, 0.8, 4), _arrived(3, 0.7, 3)])
    _send_reply(store, "1", alice.id, after=timedelta(minutes=10))
    _send_reply(store, "2", bob.id, after=timedelta(minutes=90))  # past the 60 min SLA
    log_in(client)
    page = client.get("/dashboard", params={"window": "24h"}).text
    # Tweet 3 waits past the SLA, tweet 2's first response took longer than it.
    assert 'id="stat-sla">2<' in page and "past the 60.0 min SLA" in page
    assert 'id="stat-first-response">50.0 min<' in page  # the median of 10 and 90 minutes
    assert "<li>alice: 1</li>" in page and "<li>bob: 1</li>" in page
    assert "median first response 10.0 min" in page  # the chart's point for tweet 1's hour
    assert "resolved: p50 none yet, p95 none yet (0 conversation(s))" in page


def test_dashboard_shows_resolution_times_of_the_window(
    store: TriageStore, alice: UserView
) -> None:
    now = utc_now()
    store.upsert_scored([_arrived(i, 0.9, 5, now) for i in (1, 2, 3)])
    for tweet_id, hours in (("1", 1), ("2", 2), ("3", 4)):
        arrived = store.get_tweet(tweet_id).arrived_at
        store.resolve(tweet_id, alice.id, now=arrived + timedelta(hours=hours))
    stats = store.dashboard(now - timedelta(hours=24), now=now)
    assert stats.resolved == 3
    assert stats.resolution_seconds[0.5] == pytest.approx(7200)
    assert stats.resolution_seconds[0.95] == pytest.approx(3600 * (2 + 2 * 0.9))  # linear
    later = store.dashboard(now - timedelta(hours=3.5), now=now)  # resolved since then: 2, 3
    assert later.resolved == 2


def test_the_sla_is_the_inbox_setting(
    store: TriageStore, alice: UserView, scorer, tmp_path: Path
) -> None:
    store.upsert_scored([_arrived(1, 0.9, 0.5)])
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    for minutes, breaches in ((60, 0), (20, 1)):
        app = create_app(store, model, InboxConfig(sla_minutes=minutes))
        with TestClient(app) as client:
            log_in(client)
            page = client.get("/dashboard").text
        assert f'id="stat-sla">{breaches}<' in page


def test_the_scorer_card_shows_quarantined_objects_and_the_live_threshold(
    store: TriageStore, alice: UserView, scorer, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (state / "triage").mkdir(parents=True)
    (state / "triage" / "scorer-stats.json").write_text(
        json.dumps(
            {
                "quarantined_objects": 2,
                "recent_bad_objects": [
                    {"object": "s3://raw/a.json.gz", "reason": "not gzip"},
                    {"object": "s3://raw/<b>.json", "reason": "no data"},
                ],
                "threshold": 0.052,
                "model_threshold": 0.186,
                "live_prior": 0.808,
                "live_prior_scores": 2000,
                "live_prior_window": 2000,
            }
        )
    )
    model = ModelProvider(resolve=lambda: ("7", None), load=lambda _source: scorer)
    app = create_app(store, model, InboxConfig(state_dir=state))
    with TestClient(app) as client:
        log_in(client)
        page = client.get("/dashboard").text
    assert 'id="stat-quarantined">2<' in page
    newest = page.index("s3://raw/&lt;b&gt;.json: no data")  # escaped, newest first
    assert newest < page.index("s3://raw/a.json.gz: not gzip")
    assert "0.052 for a live share of 80.8% needing support" in page
