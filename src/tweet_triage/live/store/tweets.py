"""Scored tweets: the streaming scorer's upserts and the inbox's queue and tweet views."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, delete, exists, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Insert

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import StoreError, UnknownTweetError
from tweet_triage.live.store.schema import (
    DecisionRecord,
    ScoredTweet,
    TweetTag,
    as_utc,
    tweet_url,
)
from tweet_triage.live.store.views import ScoredRecord, TweetView

QueueOrder = Literal["likely", "newest"]
UPSERT_PAGE = 1000  # rows per executemany: bounds memory and the IN (...) of the tag refresh


class ScoredTweets(Database):
    """The scored tweets: written by the scorer, read by the queue and the label page."""

    def upsert_scored(self, records: Iterable[ScoredRecord]) -> int:
        """Insert or replace scored tweets by id; return how many distinct tweets were written.

        One `INSERT ... ON CONFLICT DO UPDATE` run with executemany per page, so a replayed
        micro-batch changes nothing. A tweet scored again (a replay, a new model) keeps its
        first arrival time and its decisions; everything else takes the new values.
        """
        latest: dict[str, ScoredRecord] = {}
        for record in records:
            latest[record.id] = record
        rows = [_scored_row(r) for r in latest.values()]
        if not rows:
            return 0
        upsert = _upsert_statement(self.dialect)
        with self._session() as session:
            connection = session.connection()
            for start in range(0, len(rows), UPSERT_PAGE):
                _upsert_page(connection, upsert, rows[start : start + UPSERT_PAGE])
        return len(rows)

    def count_scored(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(ScoredTweet)) or 0)

    def count_flagged(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).where(is_flagged())) or 0)

    def get_tweet(self, tweet_id: str) -> TweetView:
        with self._session() as session:
            row = session.get(ScoredTweet, tweet_id)
            if row is None:
                raise UnknownTweetError(tweet_id)
            return tweet_view(row, session.scalar(latest_decision_of(tweet_id).limit(1)))

    def queue(
        self,
        *,
        order: QueueOrder = "likely",
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[TweetView]:
        """Flagged tweets nobody has decided on yet: most likely first, or newest first."""
        query = select(ScoredTweet).where(is_flagged(), is_open())
        query = _filtered(query, tag, since)
        if order == "newest":
            query = query.order_by(ScoredTweet.arrived_at.desc(), ScoredTweet.id.desc())
        else:
            query = query.order_by(ScoredTweet.p_needs_support.desc(), ScoredTweet.id.desc())
        with self._session() as session:
            return [tweet_view(row) for row in session.scalars(query.limit(limit))]

    def lowest_flagged_score(self) -> float | None:
        """The lowest P(needs support) the scorer flagged: the threshold it scores at."""
        query = select(func.min(ScoredTweet.p_needs_support)).where(is_flagged())
        with self._session() as session:
            lowest = session.scalar(query)
        return None if lowest is None else float(lowest)

    def undecided(self, *, closest_to: float | None = None, limit: int = 200) -> list[TweetView]:
        """Tweets nobody has decided on (flagged or not): the scores closest to `closest_to`
        first, or a uniform random sample without it (the label page's two pools).

        Both read an index: closest first walks the scores up and down from `closest_to` and
        merges the two sides; the sample is the open tweets following a random point in the
        order of their `sample_key`.
        """
        open_tweets = select(ScoredTweet).where(is_open())
        if closest_to is None:
            start = random.random()
            key = ScoredTweet.sample_key
            with self._session() as session:
                rows = list(
                    session.scalars(open_tweets.where(key >= start).order_by(key).limit(limit))
                )
                if len(rows) < limit:  # wrap around to the start of the order
                    wrapped = open_tweets.where(key < start).order_by(key)
                    rows += session.scalars(wrapped.limit(limit - len(rows)))
            return [tweet_view(row) for row in rows]
        score = ScoredTweet.p_needs_support
        above = open_tweets.where(score >= closest_to).order_by(score, ScoredTweet.id)
        below = open_tweets.where(score < closest_to).order_by(score.desc(), ScoredTweet.id)
        with self._session() as session:
            rows = [
                *session.scalars(above.limit(limit)),
                *session.scalars(below.limit(limit)),
            ]
        rows.sort(key=lambda row: (abs(row.p_needs_support - closest_to), row.id))
        return [tweet_view(row) for row in rows[:limit]]

    def queue_size(self) -> int:
        query = select(func.count()).where(is_flagged(), is_open())
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def tweets(
        self,
        *,
        flagged: bool | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[TweetView]:
        """Every tweet (newest first) with its latest decision: where misses are found."""
        latest = latest_decision_of(ScoredTweet.id).limit(1).scalar_subquery().label("decision")
        query = select(ScoredTweet, latest)
        if flagged is not None:
            query = query.where(ScoredTweet.flagged == flagged)
        query = _filtered(query, tag, since).order_by(
            ScoredTweet.arrived_at.desc(), ScoredTweet.id.desc()
        )
        with self._session() as session:
            return [
                tweet_view(row, decision) for row, decision in session.execute(query.limit(limit))
            ]

    def rule_tags(self) -> list[str]:
        """The distinct tags, found by hopping the tag index from one tag to the next (a
        recursive query: as many index lookups as tags, not a scan of every tweet's tags)."""
        hops = select(func.min(TweetTag.tag).label("tag")).cte("tags", recursive=True)
        after = select(func.min(TweetTag.tag)).where(TweetTag.tag > hops.c.tag).scalar_subquery()
        hops = hops.union_all(select(after).where(hops.c.tag.is_not(None)))
        query = select(hops.c.tag).where(hops.c.tag.is_not(None)).order_by(hops.c.tag)
        with self._session() as session:
            return list(session.scalars(query))


def tweet_view(row: ScoredTweet, decision: str | None = None) -> TweetView:
    return TweetView(
        id=row.id,
        created_at=row.created_at,
        received_at=row.received_at,
        scored_at=row.scored_at,
        arrived_at=row.arrived_at,
        text=row.text,
        url=row.url,
        rule_tags=list(row.rule_tags or []),
        p_needs_support=row.p_needs_support,
        flagged=row.flagged,
        model_version=row.model_version,
        decision=None if decision is None else Decision(decision),
    )


def is_flagged() -> Any:
    """`flagged = true`: an index can serve it on both back ends (`IS TRUE` PostgreSQL's
    cannot)."""
    return ScoredTweet.flagged == true()


def is_open() -> Any:
    """Nobody has decided on the tweet yet."""
    return ScoredTweet.first_decided_at.is_(None)


def latest_decision_of(tweet_id: Any) -> Select[tuple[str]]:
    return (
        select(DecisionRecord.decision)
        .where(DecisionRecord.tweet_id == tweet_id)
        .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
    )


def _filtered(query: Any, tag: str | None, since: datetime | None) -> Any:
    if tag:
        query = query.where(
            exists().where(TweetTag.tweet_id == ScoredTweet.id, TweetTag.tag == tag)
        )
    if since is not None:
        query = query.where(ScoredTweet.arrived_at >= as_utc(since))
    return query


def _scored_row(record: ScoredRecord) -> dict[str, Any]:
    if not record.id or not str(record.id).isdigit():
        raise StoreError(f"tweet id {record.id!r} is not a numeric X tweet id")
    scored_at = as_utc(record.scored_at)
    received_at = as_utc(record.received_at) if record.received_at else None
    return {
        "id": str(record.id),
        "created_at": as_utc(record.created_at),
        "received_at": received_at,
        "scored_at": scored_at,
        "arrived_at": received_at or scored_at,
        "text": record.text,
        "url": tweet_url(str(record.id)),
        "rule_tags": sorted({str(tag) for tag in record.rule_tags}),
        "p_needs_support": float(record.p_needs_support),
        "flagged": bool(record.flagged),
        "model_version": str(record.model_version),
        "sample_key": sample_key(str(record.id)),
    }


def sample_key(tweet_id: str) -> float:
    """A number in [0, 1) fixed by the id (its own hash salt: independent of other samples)."""
    digest = hashlib.sha256(f"triage-sample:{tweet_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _upsert_statement(dialect: str) -> Insert:
    """The scored-tweet upsert for executemany: a rescored tweet keeps its first arrival and
    its first decision; the scorer's columns take the new values."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ScoredTweet.__table__
    statement = dialect_insert(table)
    excluded = statement.excluded
    replaced: dict[str, Any] = {
        column.name: excluded[column.name]
        for column in table.columns
        if column.name not in ("id", "received_at", "arrived_at", "first_decided_at")
    }
    replaced["received_at"] = func.coalesce(table.c.received_at, excluded.received_at)
    replaced["arrived_at"] = func.coalesce(table.c.arrived_at, excluded.arrived_at)
    return statement.on_conflict_do_update(index_elements=["id"], set_=replaced)


def _upsert_page(connection: Connection, upsert: Insert, rows: list[dict[str, Any]]) -> None:
    connection.execute(upsert, rows)
    ids = [row["id"] for row in rows]
    connection.execute(delete(TweetTag).where(TweetTag.tweet_id.in_(ids)))
    tags = [{"tweet_id": row["id"], "tag": tag} for row in rows for tag in row["rule_tags"]]
    if tags:
        connection.execute(TweetTag.__table__.insert(), tags)
