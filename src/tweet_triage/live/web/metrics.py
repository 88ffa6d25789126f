"""Prometheus metrics of the inbox, every one registered in the app's own registry.

`triage_scored_tweets_total`, `triage_flagged_tweets_total` and `triage_queue_size` come from
the store's totals when scraped (recounted every few seconds in the background, so a scrape
never waits on a count), so they count what the streaming scorer wrote too; so do the replies
(`triage_replies_total{status}`: the replies in each delivery state now, as the outbox worker
moves them) and `triage_first_response_seconds` (a histogram of each conversation's arrival to
its first reply delivered, over the store's whole history), both counted by the database and
kept as long as the totals; the learning loop's
figures (`triage_loop_*`, `triage_drift_passed`) are read from its state when scraped.
Decision latency (arrival to decision) and scoring latency (`POST /api/score`) are observed
as they happen in this process. Each app has its own registry (no global state between apps
or tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from tweet_triage.live.replies.outbox import ReplyStatus
from tweet_triage.live.store import FIGURES_MAX_AGE, Fresh, TriageStore, UnknownTweetError

if TYPE_CHECKING:
    from tweet_triage.live.web.loop import LoopState
    from tweet_triage.live.web.scoring import ModelProvider

DECISION_BUCKETS = (30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200)
SCORE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
FIRST_RESPONSE_BUCKETS = (10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400)
DRIFT_GAUGE = {"pass": 1, "fail": 0}


class _StoreCollector(Collector):
    """The store's counts and the API model's figures, read at scrape time."""

    def __init__(self, store: TriageStore, model: ModelProvider) -> None:
        self.store = store
        self.model = model

    def collect(self) -> Iterator[Metric]:
        totals = self.store.totals()  # counted at most FIGURES_MAX_AGE ago, in the background
        scored = CounterMetricFamily("triage_scored_tweets", "Tweets scored into the store.")
        scored.add_metric([], totals.scored)
        yield scored
        flagged = CounterMetricFamily(
            "triage_flagged_tweets", "Scored tweets flagged as needing support."
        )
        flagged.add_metric([], totals.flagged)
        yield flagged
        queue = GaugeMetricFamily("triage_queue_size", "Flagged tweets nobody decided on yet.")
        queue.add_metric([], totals.queue_size)
        yield queue
        passes = CounterMetricFamily(
            "triage_api_model_passes",
            "Forward passes behind POST /api/score (concurrent requests share passes).",
        )
        passes.add_metric([], self.model.passes)
        yield passes
        info = GaugeMetricFamily(
            "triage_api_model_info", "Model version POST /api/score uses.", labels=["version"]
        )
        if self.model.version is not None:
            info.add_metric([self.model.version], 1)
        yield info


class _ReplyCollector(Collector):
    """The outbox and the first responses, read from the store at scrape time."""

    def __init__(self, store: TriageStore) -> None:
        self.store = store
        self.fresh = Fresh(FIGURES_MAX_AGE)  # counted like the store's totals, at most every 10 s

    def collect(self) -> Iterator[Metric]:
        counts = self.fresh.get("replies", self.store.reply_counts)
        replies = GaugeMetricFamily(
            "triage_replies_total",
            "Replies by delivery status now (queued, sending, sent, failed).",
            labels=["status"],
        )
        for status in ReplyStatus:
            replies.add_metric([status.value], counts.get(status, 0))
        yield replies
        first = self.fresh.get(
            "first responses",
            lambda: self.store.first_response_histogram(FIRST_RESPONSE_BUCKETS),
        )
        buckets = [(str(bound), count) for bound, count in first.buckets]
        yield HistogramMetricFamily(
            "triage_first_response_seconds",
            "Seconds from a conversation's first tweet arriving to its first reply sent.",
            buckets=[*buckets, ("+Inf", first.count)],
            sum_value=first.total_seconds,
        )


class _LoopCollector(Collector):
    """The learning loop's figures: champion, its age, labels since the last retrain, the
    last retrain's outcome and the drift check (-1 where unknown)."""

    def __init__(self, read: Callable[[], LoopState]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        state = self.read()
        status = state.status
        champion = status.champion if status else None
        age = status.champion_age_seconds if status else None
        yield _gauge(
            "triage_loop_champion_version",
            "The champion model version (numeric; -1 unknown).",
            int(champion) if champion and champion.isdigit() else -1,
        )
        yield _gauge(
            "triage_loop_champion_age_seconds",
            "Seconds since the champion took over (-1 unknown).",
            round(age) if age is not None else -1,
        )
        yield _gauge(
            "triage_loop_labels_since_retrain",
            "Tweets decided since the last retrain.",
            (status.labels_since_retrain or 0) if status else 0,
        )
        yield _gauge(
            "triage_loop_last_retrain_promoted",
            "1 promoted, 0 kept the champion, -1 none yet.",
            status.last_retrain.promoted if status and status.last_retrain else -1,
        )
        yield _gauge(
            "triage_drift_passed",
            "1 the last drift check passed, 0 failed, -1 unknown.",
            DRIFT_GAUGE.get(state.drift["state"], -1),
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class InboxMetrics:
    """The app's registry: the scrape-time collectors and what this process observes."""

    def __init__(
        self, store: TriageStore, model: ModelProvider, loop: Callable[[], LoopState]
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StoreCollector(store, model))
        self.registry.register(_ReplyCollector(store))
        self.registry.register(_LoopCollector(loop))
        self.decision_latency = Histogram(
            "triage_decision_latency_seconds",
            "Seconds from a tweet's arrival to a decision on it.",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "triage_decisions", "Decisions recorded by this inbox.", registry=self.registry
        )
        self.score_latency = Histogram(
            "triage_score_request_seconds",
            "Seconds spent scoring one POST /api/score request.",
            buckets=SCORE_BUCKETS,
            registry=self.registry,
        )
        self.score_texts = Counter(
            "triage_api_scored_texts",
            "Texts scored through POST /api/score.",
            registry=self.registry,
        )

    def decided(self, store: TriageStore, tweet_id: str, decided_at: datetime) -> None:
        self.decisions.inc()
        try:
            arrived = store.get_tweet(tweet_id).arrived_at
        except UnknownTweetError:
            return
        self.decision_latency.observe(max(0.0, (decided_at - arrived).total_seconds()))

    def scored_request(self, texts: int, seconds: float) -> None:
        self.score_texts.inc(texts)
        self.score_latency.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
