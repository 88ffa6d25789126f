"""The store's reads stay index reads at a team's year: "All tweets" is paged by key, and the
queue, its size and the label page's pools read the partial indexes of the open tweets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from tests.unit.live.conftest import scored
from tweet_triage.live.store import TriageStore, UnknownTweetError
from tweet_triage.live.store.errors import StoreError


def test_all_tweets_are_paged_by_key_both_ways(store: TriageStore) -> None:
    # Pairs of tweets share an arrival time: the id breaks the tie, so none is lost or shown
    # twice at a page's edge.
    store.upsert_scored([scored(i, (i % 10) / 10, minutes_ago=i // 2) for i in range(1, 58)])
    everything = [t.id for t in store.tweets(limit=1000)]
    assert len(everything) == 57
    pages, before = [], None
    while page := store.tweets(limit=10, before=before):
        pages.append([t.id for t in page])
        before = page[-1].id
    assert [i for page in pages for i in page] == everything
    assert [len(p) for p in pages] == [10, 10, 10, 10, 10, 7]
    # From the oldest page back to the newest with `after`: the same pages, newest first.
    assert [t.id for t in store.tweets(limit=10, after=pages[-1][0])] == pages[-2]
    assert [t.id for t in store.tweets(limit=10, after=pages[1][0])] == pages[0]
    assert store.tweets(limit=10, after=pages[0][0]) == []
    flagged = [t.id for t in store.tweets(flagged=True, limit=1000)]
    assert [t.id for t in store.tweets(flagged=True, limit=5, before=flagged[4])] == flagged[5:10]


def test_paging_from_an_unknown_tweet_or_both_ways_is_refused(store: TriageStore) -> None:
    store.upsert_scored([scored(1, 0.9)])
    with pytest.raises(UnknownTweetError):
        store.tweets(before="999")
    with pytest.raises(StoreError, match="not both"):
        store.tweets(before="1", after="1")


def _plans(store: TriageStore, call: Callable[[], Any]) -> list[str]:
    """SQLite's query plans of the SELECTs `call` makes."""
    statements: list[tuple[str, Any]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        call()
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        return [
            " / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params))
            for sql, params in statements
        ]


@pytest.mark.parametrize(
    ("call", "index"),
    [
        (lambda s: s.queue(limit=5), "ix_scored_tweets_open_likely"),
        (lambda s: s.queue(order="newest", limit=5), "ix_scored_tweets_open_newest"),
        (lambda s: s.queue_size(), "ix_scored_tweets_open_"),
        (lambda s: s.undecided(closest_to=0.5, limit=5), "ix_scored_tweets_open_p"),
        (lambda s: s.undecided(limit=5), "ix_scored_tweets_open_sample"),
    ],
    ids=["queue likely", "queue newest", "queue size", "label closest", "label sample"],
)
def test_open_tweets_are_read_from_their_partial_indexes(
    store: TriageStore, call: Callable[[TriageStore], Any], index: str
) -> None:
    store.upsert_scored([scored(i, (i % 20) / 20, minutes_ago=i) for i in range(1, 200)])
    alice = store.add_user("alice", "h")
    for i in range(1, 200, 3):
        store.decide(str(i), alice.id, "handled", decided_at=store.get_tweet(str(i)).arrived_at)
    with store.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    plans = _plans(store, lambda: call(store))
    tweet_reads = [p for p in plans if "scored_tweets" in p and "USING INTEGER PRIMARY" not in p]
    assert any(index in p for p in tweet_reads), plans
    assert not any("SCAN scored_tweets" in p and "INDEX" not in p for p in plans), plans
