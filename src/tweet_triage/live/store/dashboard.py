"""The dashboard's figures: volume and needs-support share per hour and per rule tag, the
open queue hour by hour, first responses, the SLA and replies per teammate; and the store's
running totals.

At a team's year a window's figures and the totals are counts over hundreds of thousands of
rows: the inbox shows them as computed at most `FIGURES_MAX_AGE` ago (`recent_dashboard`,
`totals`), each recomputed by one background thread while callers get the last value.
`dashboard` itself always asks the database.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, case, func, literal, select

from tweet_triage.live.store.replies import Replies
from tweet_triage.live.store.schema import Conversation, ScoredTweet, TweetTag, as_utc, utc_now
from tweet_triage.live.store.tweets import is_flagged, is_open
from tweet_triage.live.store.views import (
    DashboardStats,
    HourCount,
    LatencyStats,
    QueueHour,
    StoreTotals,
    TagCount,
)

DEFAULT_SLA = timedelta(minutes=60)
HOUR = timedelta(hours=1)


class Dashboard(Replies):
    """Aggregates over a time window, computed by the database."""

    def recent_dashboard(
        self, window: timedelta | None, *, sla: timedelta = DEFAULT_SLA
    ) -> DashboardStats:
        """`dashboard` over the last `window` (all time with None), computed at most
        `FIGURES_MAX_AGE` ago: its `computed_at` says when."""

        def compute() -> DashboardStats:
            now = utc_now()
            since = now - window if window is not None else datetime(1970, 1, 1, tzinfo=UTC)
            return self.dashboard(since, sla=sla, now=now)

        return self._fresh.get(("dashboard", window, sla), compute)

    def totals(self) -> StoreTotals:
        """Tweets scored, flagged, in the queue and decided, counted at most
        `FIGURES_MAX_AGE` ago."""

        def compute() -> StoreTotals:
            now = utc_now()
            return StoreTotals(
                self.count_scored(),
                self.count_flagged(),
                self.queue_size(),
                self.count_decided_tweets(),
                now,
            )

        return self._fresh.get("totals", compute)

    def dashboard(
        self, since: datetime, *, sla: timedelta = DEFAULT_SLA, now: datetime | None = None
    ) -> DashboardStats:
        """Volume and needs-support share per hour and per rule tag since `since`, the open
        queue at the end of each hour, the median first response per hour, the SLA breaches
        and the replies per teammate."""
        since, now = as_utc(since), as_utc(now or utc_now())
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
            flagged_open = int(
                session.scalar(select(func.count()).where(is_flagged(), is_open())) or 0
            )
            first_decided = self._flagged_first_decided_by_hour(session, since)
        latency = self.decision_latency(since, quantiles=(0.5,))
        resolutions = self.resolution_times(since)
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
            open_queue=_open_queue(hours, first_decided, flagged_open, now),
            first_responses=self.first_response_by_hour(since),
            median_first_response_seconds=_median(self.first_response_times(since)),
            resolution_seconds=_quantiles(resolutions, (0.5, 0.95)),
            resolved=len(resolutions),
            sla_breaches=self.sla_breaches(sla, now, since=since),
            replies_per_person=self.replies_per_person(since),
            computed_at=now,
        )

    def first_response_histogram(
        self, buckets: Sequence[float], since: datetime | None = None
    ) -> LatencyStats:
        """Seconds from each conversation's first tweet to the team's first sent reply (of
        those first answered since `since`, all without it): count, sum and cumulative
        bucket counts per upper bound, counted by the database (a Prometheus histogram)."""
        first = Conversation.first_response_at
        took = self._seconds_between(Conversation.opened_at, first)
        answered = select(case((took < 0, literal(0.0)), else_=took).label("seconds")).where(
            first.is_not(None)
        )
        if since is not None:
            answered = answered.where(first >= as_utc(since))
        # Materialised: each conversation's seconds computed once, not once per bucket.
        seconds = answered.cte("answered").prefix_with("MATERIALIZED").c.seconds
        bounds = sorted(float(b) for b in buckets)
        query = select(
            func.count(),
            func.coalesce(func.sum(seconds), 0.0),
            *(func.coalesce(func.sum(case((seconds <= b, 1), else_=0)), 0) for b in bounds),
        )
        with self._session() as session:
            count, total, *cumulative = session.execute(query).one()
        return LatencyStats(
            count=int(count),
            total_seconds=float(total),
            quantiles={},
            buckets=[(b, int(n)) for b, n in zip(bounds, cumulative, strict=True)],
        )

    def _flagged_first_decided_by_hour(self, session: Any, since: datetime) -> dict[datetime, int]:
        """How many flagged tweets were first decided in each hour since `since` (the
        decided tweets' index, by decision time)."""
        first = ScoredTweet.first_decided_at
        hour = self._hour_of(first)
        query = (
            select(hour.label("hour"), func.count())
            .where(first >= since, is_flagged())
            .group_by("hour")
        )
        return {_as_hour(h): int(n) for h, n in session.execute(query)}

    def _hour_of(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return func.date_trunc("hour", column)
        return func.strftime("%Y-%m-%d %H:00:00", column)


def _open_queue(
    hours: list[HourCount], first_decided: dict[datetime, int], open_now: int, now: datetime
) -> list[QueueHour]:
    """The flagged open tweets at the end of each hour from the window's first to now,
    counted back from the queue now: an hour's end had the tweets open now, less those
    flagged after it, plus those first decided after it."""
    if not hours:
        return []
    arrived = {h.hour: h.flagged for h in hours}
    current = now.replace(minute=0, second=0, microsecond=0)
    queue, open_at_end, hour = [], open_now, current
    while hour >= hours[0].hour:
        queue.append(QueueHour(hour, max(0, open_at_end)))
        open_at_end += first_decided.get(hour, 0) - arrived.get(hour, 0)
        hour -= HOUR
    return queue[::-1]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _quantiles(values: list[float], quantiles: Sequence[float]) -> dict[float, float]:
    """Each quantile linear between the order statistics around q * (n - 1); none without
    values."""
    ordered = sorted(values)
    found = {}
    for q in quantiles if ordered else ():
        position = q * (len(ordered) - 1)
        low, high = ordered[int(position)], ordered[min(int(position) + 1, len(ordered) - 1)]
        found[q] = low + (high - low) * (position - int(position))
    return found


def _as_hour(value: Any) -> datetime:
    if isinstance(value, datetime):
        return as_utc(value)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
