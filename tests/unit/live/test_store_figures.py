"""Figures kept briefly: a recount happens behind the callers, once at a time."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.unit.live.conftest import NOW, scored
from tweet_triage.live.store import Fresh, TriageStore, utc_now


def _until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_expired_value_is_served_while_one_thread_recounts() -> None:
    fresh = Fresh(timedelta(0))  # every value has expired when asked again
    assert fresh.get("k", lambda: 1) == 1
    release, calls = threading.Event(), []

    def slow() -> int:
        calls.append(1)
        release.wait(5)
        return 2

    assert fresh.get("k", slow) == 1  # the last value, a recount started behind
    assert fresh.get("k", slow) == 1  # still the last value, no second recount
    release.set()
    _until(lambda: fresh.get("k", lambda: 3) != 1)
    assert len(calls) == 1


def test_a_count_under_way_when_the_value_is_forgotten_is_not_kept() -> None:
    fresh = Fresh(timedelta(seconds=60))
    started, release = threading.Event(), threading.Event()

    def before_the_write() -> str:
        started.set()
        release.wait(5)
        return "stale"

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(fresh.get, "k", before_the_write)
        assert started.wait(5)
        fresh.forget("k")  # the write lands while the count is under way
        release.set()
        assert first.result(5) == "stale"  # asked before the write: its own answer
    assert fresh.get("k", lambda: "after") == "after"  # not kept: counted again


def test_the_first_count_is_made_once_for_every_caller_waiting() -> None:
    fresh = Fresh(timedelta(seconds=60))
    calls = []

    def count() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    with ThreadPoolExecutor(8) as pool:
        values = list(pool.map(lambda _: fresh.get("k", count), range(8)))
    assert values == [42] * 8 and len(calls) == 1


def test_a_failed_first_count_is_tried_again() -> None:
    fresh = Fresh(timedelta(seconds=60))

    def broken() -> int:
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError, match="database away"):
        fresh.get("k", broken)
    assert fresh.get("k", lambda: 7) == 7


def test_totals_and_recent_figures_are_kept_briefly(store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.9), scored(2, 0.1), scored(3, 0.8)])
    totals = store.totals()
    assert (totals.scored, totals.flagged, totals.queue_size, totals.decided_tweets) == (3, 2, 2, 0)
    store.upsert_scored([scored(4, 0.95)])
    assert store.totals() == totals  # within FIGURES_MAX_AGE: the same count
    assert store.count_scored() == 4  # the exact count is still one call away
    recent = store.recent_dashboard(None)
    assert recent.scored == 4 and store.recent_dashboard(None) is recent
    assert store.recent_dashboard(timedelta(hours=1)) is not recent  # each window its own


def test_first_responses_are_a_histogram_counted_by_the_database(store: TriageStore) -> None:
    alice = store.add_user("alice", "h")
    store.upsert_scored([scored(1, 0.9), scored(2, 0.8), scored(3, 0.7)])
    for tweet_id, minutes in (("1", 9), ("2", 90)):
        store.queue_reply(tweet_id, alice.id, "On it", window=timedelta(minutes=30))
        claimed = store.claim_due(utc_now())
        assert claimed is not None
        sent_at = store.get_tweet(tweet_id).arrived_at + timedelta(minutes=minutes)
        store.record_sent(claimed.id, f"9{tweet_id}", sent_at)
    histogram = store.first_response_histogram((3600, 600, 7200))
    assert histogram.count == 2 and histogram.total_seconds == pytest.approx(5940.0)
    assert histogram.buckets == [(600.0, 1), (3600.0, 1), (7200.0, 2)]
    assert sorted(store.first_response_times()) == pytest.approx([540.0, 5400.0])
    later = store.first_response_histogram((600,), since=NOW + timedelta(minutes=30))
    assert (later.count, later.buckets) == (1, [(600.0, 0)])


def test_page_furniture_is_kept_briefly_and_this_stores_writes_show_at_once(
    store: TriageStore,
) -> None:
    alice = store.add_user("alice", "h")
    store.upsert_scored([scored(1, 0.9, tags=("jwst",))])
    assert store.rule_tags() == ["jwst"] and store.saved_replies() == []
    other = TriageStore(store.url)  # another process's writes: shown within FIGURES_MAX_AGE
    other.upsert_scored([scored(2, 0.9, tags=("nasa",))])
    other.create_saved_reply("/thanks", "Thanks", "Thanks, {author}!", alice.id)
    assert store.rule_tags() == ["jwst"] and store.saved_replies() == []
    other.close()
    store.upsert_scored([scored(3, 0.9, tags=("launch",))])  # this store's own writes: at once
    assert store.rule_tags() == ["jwst", "launch", "nasa"]
    saved = store.create_saved_reply("/sorry", "Sorry", "Sorry, {author}.", alice.id)
    assert [s.shortcode for s in store.saved_replies()] == ["/sorry", "/thanks"]
    store.update_saved_reply(saved.id, title="Apology")
    assert [s.title for s in store.saved_replies()] == ["Apology", "Thanks"]
    store.delete_saved_reply(saved.id)
    assert [s.shortcode for s in store.saved_replies()] == ["/thanks"]
