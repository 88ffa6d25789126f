"""Prometheus metrics of the inbox: store counts read at scrape time, latencies as histograms.

`triage_scored_tweets_total`, `triage_flagged_tweets_total` and `triage_queue_size` come from
the store when scraped, so they count what the streaming scorer wrote too. Decision latency
(arrival to decision) and scoring latency (`POST /api/score`) are observed as they happen in
this process. Each app has its own registry (no global state between apps or tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tweet_triage.live.store import TriageStore, UnknownTweetError

if TYPE_CHECKING:
    from tweet_triage.live.web.scoring import ModelProvider

DECISION_BUCKETS = (30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200)
SCORE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _StoreCollector(Collector):
    def __init__(self, store: TriageStore, model: ModelProvider) -> None:
        self.store = store
        self.model = model

    def collect(self) -> Iterator[Metric]:
        scored = CounterMetricFamily("triage_scored_tweets", "Tweets scored into the store.")
        scored.add_metric([], self.store.count_scored())
        yield scored
        flagged = CounterMetricFamily(
            "triage_flagged_tweets", "Scored tweets flagged as needing support."
        )
        flagged.add_metric([], self.store.count_flagged())
        yield flagged
        queue = GaugeMetricFamily("triage_queue_size", "Flagged tweets nobody decided on yet.")
        queue.add_metric([], self.store.queue_size())
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


class InboxMetrics:
    def __init__(self, store: TriageStore, model: ModelProvider) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_StoreCollector(store, model))
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
