"""The team's decisions on tweets: who decided what and when (the latest one counts).

Counts and latencies are computed by the database over a time window, so no request reads
every decision; `decisions()` (every row) is for the learning loop's exports. Each tweet
keeps the time of its first decision (`first_decided_at`), which `decide` and the undo
maintain: whether a tweet is open, and how long it waited, need no look at its decisions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, literal, or_, select, update
from sqlalchemy.orm import Session

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import DecidedByOtherError, StoreError, UnknownTweetError
from tweet_triage.live.store.schema import (
    DecisionRecord,
    DecisionSource,
    ScoredTweet,
    User,
    as_utc,
    utc_now,
)
from tweet_triage.live.store.views import DecisionView, LatencyStats


def as_decision(value: str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        raise StoreError(
            f"decision {value!r} is not one of {', '.join(d.value for d in Decision)}"
        ) from None


def as_source(value: str) -> DecisionSource:
    try:
        return DecisionSource(value)
    except ValueError:
        raise StoreError(
            f"decision source {value!r} is not one of {', '.join(s.value for s in DecisionSource)}"
        ) from None


class Decisions(Database):
    """Recording and reading decisions; every decision is also a label for the loop."""

    def decide(
        self,
        tweet_id: str,
        user_id: int,
        decision: str | Decision,
        decided_at: datetime | None = None,
        *,
        replace_others: bool = True,
        source: str | DecisionSource = DecisionSource.QUEUE,
    ) -> DecisionView:
        """Record a decision on a tweet (who and when); the latest one counts.

        Decisions on one tweet are serialised (a row lock on PostgreSQL, the write lock on
        SQLite, taken by the insert before the earlier decision is read), so of two people
        deciding at once exactly one learns that the other decided first: in the returned
        view's `earlier_by_other`, or, with `replace_others=False`, as DecidedByOtherError
        with nothing recorded. `source` says where it was made: the queue, the label page,
        the API, or a reply the team queued.
        """
        decision = as_decision(decision)
        source = as_source(source)
        with self._session() as session:
            return self._decide(
                session, tweet_id, user_id, decision, decided_at, replace_others, source
            )

    def _decide(
        self,
        session: Session,
        tweet_id: str,
        user_id: int,
        decision: Decision,
        decided_at: datetime | None,
        replace_others: bool,
        source: DecisionSource,
    ) -> DecisionView:
        """`decide` inside the caller's transaction (queuing a reply records one too)."""
        if session.get(ScoredTweet, tweet_id, with_for_update=True) is None:
            raise UnknownTweetError(tweet_id)
        user = session.get(User, user_id)
        if user is None:
            raise StoreError(f"no user with id {user_id}")
        record = DecisionRecord(
            tweet_id=tweet_id,
            user_id=user_id,
            decision=decision.value,
            decided_at=as_utc(decided_at or utc_now()),
            source=source.value,
        )
        session.add(record)
        session.flush()
        first = ScoredTweet.first_decided_at
        session.execute(
            update(ScoredTweet)
            .where(ScoredTweet.id == tweet_id)
            .values(
                first_decided_at=case(
                    (or_(first.is_(None), first > record.decided_at), record.decided_at),
                    else_=first,
                )
            )
        )
        before = session.execute(
            select(DecisionRecord, User.name)
            .join(User, User.id == DecisionRecord.user_id)
            .where(DecisionRecord.tweet_id == tweet_id, DecisionRecord.id != record.id)
            .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
            .limit(1)
        ).first()
        earlier = None
        if before is not None and before[0].user_id != user_id:
            earlier = _decision_view(*before)
            if not replace_others:
                raise DecidedByOtherError(earlier)  # leaving the session rolls back
        return DecisionView(
            record.id, tweet_id, user.name, decision, record.decided_at, earlier, source
        )

    def latest_decision(self, tweet_id: str) -> DecisionView | None:
        """The decision that counts for a tweet (its latest), or None while it is open."""
        query = (
            select(DecisionRecord, User.name)
            .join(User, User.id == DecisionRecord.user_id)
            .where(DecisionRecord.tweet_id == tweet_id)
            .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
            .limit(1)
        )
        with self._session() as session:
            row = session.execute(query).first()
            return None if row is None else _decision_view(*row)

    def undo_last_decision(self, tweet_id: str, user_id: int) -> bool:
        """Delete this user's latest decision on a tweet (the label page's undo)."""
        with self._session() as session:
            latest = session.scalar(
                select(DecisionRecord.id)
                .where(DecisionRecord.tweet_id == tweet_id, DecisionRecord.user_id == user_id)
                .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
                .limit(1)
            )
            if latest is None:
                return False
            session.execute(delete(DecisionRecord).where(DecisionRecord.id == latest))
            first = (
                select(func.min(DecisionRecord.decided_at))
                .where(DecisionRecord.tweet_id == tweet_id)
                .scalar_subquery()
            )
            session.execute(
                update(ScoredTweet).where(ScoredTweet.id == tweet_id).values(first_decided_at=first)
            )
        return True

    def decisions(self, since: datetime | None = None) -> list[DecisionView]:
        """Every decision (oldest first): the team's labels, for exports and retraining."""
        query = (
            select(DecisionRecord, User.name)
            .join(User, User.id == DecisionRecord.user_id)
            .order_by(DecisionRecord.decided_at, DecisionRecord.id)
        )
        if since is not None:
            query = query.where(DecisionRecord.decided_at >= as_utc(since))
        with self._session() as session:
            return [_decision_view(d, name) for d, name in session.execute(query)]

    def count_decisions(
        self,
        *,
        user_id: int | None = None,
        since: datetime | None = None,
        source: str | DecisionSource | None = None,
    ) -> int:
        """How many decisions (one person's with `user_id`, made in one place with `source`)
        were made since `since`."""
        query = select(func.count()).select_from(DecisionRecord)
        if user_id is not None:
            query = query.where(DecisionRecord.user_id == user_id)
        if source is not None:
            query = query.where(DecisionRecord.source == as_source(source).value)
        if since is not None:
            query = query.where(DecisionRecord.decided_at >= as_utc(since))
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def decision_counts(self, since: datetime | None = None) -> dict[Decision, int]:
        """Decisions per kind since `since` (kinds nobody chose are left out)."""
        query = select(DecisionRecord.decision, func.count()).group_by(DecisionRecord.decision)
        if since is not None:
            query = query.where(DecisionRecord.decided_at >= as_utc(since))
        with self._session() as session:
            return {Decision(kind): int(n) for kind, n in session.execute(query)}

    def count_decided_tweets(self) -> int:
        """Tweets with at least one decision: what "new labels" are counted against."""
        query = select(func.count()).where(ScoredTweet.first_decided_at.is_not(None))
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def decision_latency(
        self,
        since: datetime | None = None,
        *,
        quantiles: Sequence[float] = (0.5,),
        buckets: Sequence[float] = (),
    ) -> LatencyStats:
        """Seconds from arrival to first decision of the tweets first decided since `since`:
        count, sum, the asked quantiles and cumulative bucket counts, all in SQL."""
        if any(not 0 <= q <= 1 for q in quantiles):
            raise StoreError(f"quantiles {list(quantiles)} must lie between 0 and 1")
        latency = self._first_decision_latencies(since)
        bounds = sorted(buckets)
        summary = select(
            func.count(),
            func.coalesce(func.sum(latency.c.seconds), 0.0),
            *(
                func.coalesce(func.sum(case((latency.c.seconds <= b, 1), else_=0)), 0)
                for b in bounds
            ),
        )
        with self._session() as session:
            count, total, *cumulative = session.execute(summary).one()
            values: dict[float, float] = {}
            if count:
                values = self._quantiles(session, latency, int(count), quantiles)
        return LatencyStats(
            count=int(count),
            total_seconds=float(total),
            quantiles=values,
            buckets=[(float(b), int(n)) for b, n in zip(bounds, cumulative, strict=True)],
        )

    def _first_decision_latencies(self, since: datetime | None) -> Any:
        """A subquery (tweet_id, seconds): arrival to first decision, clamped at zero."""
        first = ScoredTweet.first_decided_at
        seconds = self._seconds_between(ScoredTweet.arrived_at, first)
        query = select(
            ScoredTweet.id.label("tweet_id"),
            case((seconds < 0, literal(0.0)), else_=seconds).label("seconds"),
        ).where(first.is_not(None))
        if since is not None:
            query = query.where(first >= as_utc(since))
        return query.subquery().alias("latency")

    def _seconds_between(self, start: Any, end: Any) -> Any:
        if self.dialect == "postgresql":
            return func.extract("epoch", end - start)
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    @staticmethod
    def _quantiles(
        session: Any, latency: Any, count: int, quantiles: Sequence[float]
    ) -> dict[float, float]:
        """Each quantile linear between the two order statistics around q * (count - 1)."""
        positions = {q: q * (count - 1) for q in quantiles}
        wanted = sorted({i for p in positions.values() for i in (math.floor(p), math.ceil(p))})
        ranked = select(
            latency.c.seconds,
            (func.row_number().over(order_by=latency.c.seconds) - 1).label("rank"),
        ).subquery()
        rows = session.execute(
            select(ranked.c.rank, ranked.c.seconds).where(ranked.c.rank.in_(wanted))
        )
        at = {int(rank): float(seconds) for rank, seconds in rows}
        return {
            q: at[math.floor(p)] + (at[math.ceil(p)] - at[math.floor(p)]) * (p - math.floor(p))
            for q, p in positions.items()
        }


def _decision_view(record: DecisionRecord, user_name: str) -> DecisionView:
    return DecisionView(
        record.id,
        record.tweet_id,
        user_name,
        Decision(record.decision),
        record.decided_at,
        source=DecisionSource(record.source),
    )
