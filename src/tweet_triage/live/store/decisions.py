"""The team's decisions on tweets: who decided what and when (the latest one counts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import StoreError, UnknownTweetError
from tweet_triage.live.store.schema import (
    DecisionRecord,
    ScoredTweet,
    User,
    UTCDateTime,
    as_utc,
    utc_now,
)
from tweet_triage.live.store.views import DecisionView


def as_decision(value: str) -> Decision:
    try:
        return Decision(value)
    except ValueError:
        raise StoreError(
            f"decision {value!r} is not one of {', '.join(d.value for d in Decision)}"
        ) from None


class Decisions(Database):
    """Recording and reading decisions; every decision is also a label for the loop."""

    def decide(
        self,
        tweet_id: str,
        user_id: int,
        decision: str | Decision,
        decided_at: datetime | None = None,
    ) -> DecisionView:
        """Record a decision on a tweet (who and when); the latest one counts."""
        decision = as_decision(decision)
        with self._session() as session:
            if session.get(ScoredTweet, tweet_id) is None:
                raise UnknownTweetError(tweet_id)
            user = session.get(User, user_id)
            if user is None:
                raise StoreError(f"no user with id {user_id}")
            record = DecisionRecord(
                tweet_id=tweet_id,
                user_id=user_id,
                decision=decision.value,
                decided_at=as_utc(decided_at or utc_now()),
            )
            session.add(record)
            session.flush()
            return DecisionView(record.id, tweet_id, user.name, decision, record.decided_at)

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
        return True

    def decisions(self, since: datetime | None = None) -> list[DecisionView]:
        """Every decision (oldest first): the team's labels."""
        query = (
            select(DecisionRecord, User.name)
            .join(User, User.id == DecisionRecord.user_id)
            .order_by(DecisionRecord.decided_at, DecisionRecord.id)
        )
        if since is not None:
            query = query.where(DecisionRecord.decided_at >= as_utc(since))
        with self._session() as session:
            return [
                DecisionView(d.id, d.tweet_id, name, Decision(d.decision), d.decided_at)
                for d, name in session.execute(query)
            ]

    def decision_latencies(self, since: datetime | None = None) -> list[float]:
        """Seconds from each decided tweet's arrival to its first decision."""
        first = (
            select(DecisionRecord.tweet_id, func.min(DecisionRecord.decided_at).label("decided_at"))
            .group_by(DecisionRecord.tweet_id)
            .subquery()
        )
        query = select(ScoredTweet.arrived_at, first.c.decided_at).join(
            first, first.c.tweet_id == ScoredTweet.id
        )
        if since is not None:
            query = query.where(first.c.decided_at >= as_utc(since))
        decided_type = UTCDateTime()
        with self._session() as session:
            rows = session.execute(query).all()
        dialect = self.engine.dialect
        latencies = []
        for arrived, decided in rows:
            if not isinstance(decided, datetime):  # SQLite returns MIN() as text
                decided = decided_type.process_result_value(
                    datetime.fromisoformat(str(decided)), dialect
                )
            latencies.append(max(0.0, (as_utc(decided) - arrived).total_seconds()))
        return latencies
