"""The dashboard's figures: volume and needs-support share per hour and per rule tag."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, func, select

from tweet_triage.live.store.decisions import Decisions
from tweet_triage.live.store.schema import ScoredTweet, TweetTag, as_utc
from tweet_triage.live.store.tweets import ScoredTweets
from tweet_triage.live.store.views import DashboardStats, HourCount, TagCount


class Dashboard(ScoredTweets, Decisions):
    """Aggregates over a time window, computed by the database."""

    def dashboard(self, since: datetime) -> DashboardStats:
        """Volume and needs-support share per hour and per rule tag since `since`, and more."""
        since = as_utc(since)
        in_window = ScoredTweet.arrived_at >= since
        flagged_count = func.sum(func.cast(ScoredTweet.flagged, Integer))
        hour = self._hour_of(ScoredTweet.arrived_at)
        with self._session() as session:
            hours = [
                HourCount(_as_hour(h), int(total), int(flagged or 0))
                for h, total, flagged in session.execute(
                    select(hour.label("hour"), func.count(), flagged_count)
                    .where(in_window)
                    .group_by("hour")
                    .order_by("hour")
                )
            ]
            # The window's tweets first (materialised), then their tags by primary key: the
            # planner would otherwise walk every tag row in tag order to skip a sort.
            window = (
                select(ScoredTweet.id, ScoredTweet.flagged)
                .where(in_window)
                .cte("window")
                .prefix_with("MATERIALIZED")
            )
            tags = [
                TagCount(tag, int(total), int(flagged or 0))
                for tag, total, flagged in session.execute(
                    select(
                        TweetTag.tag, func.count(), func.sum(func.cast(window.c.flagged, Integer))
                    )
                    .select_from(window)
                    .join(TweetTag, TweetTag.tweet_id == window.c.id)
                    .group_by(TweetTag.tag)
                    .order_by(func.count().desc(), TweetTag.tag)
                )
            ]
            versions = {
                version: int(n)
                for version, n in session.execute(
                    select(ScoredTweet.model_version, func.count())
                    .where(in_window)
                    .group_by(ScoredTweet.model_version)
                )
            }
            latest_version = session.scalar(
                select(ScoredTweet.model_version).order_by(ScoredTweet.scored_at.desc()).limit(1)
            )
        latency = self.decision_latency(since, quantiles=(0.5,))
        return DashboardStats(
            since=since,
            hours=hours,
            tags=tags,
            scored=sum(h.total for h in hours),
            flagged=sum(h.flagged for h in hours),
            queue_size=self.queue_size(),
            decisions=self.decision_counts(since),
            median_decision_seconds=latency.quantiles.get(0.5),
            model_versions=versions,
            latest_model_version=latest_version,
        )

    def _hour_of(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return func.date_trunc("hour", column)
        return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_hour(value: Any) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
