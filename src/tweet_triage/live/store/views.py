"""What the store hands out: plain frozen dataclasses, never live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store.schema import Role


@dataclass(frozen=True)
class ScoredRecord:
    """One scored tweet, as the streaming scorer writes it."""

    id: str
    created_at: datetime
    received_at: datetime | None
    scored_at: datetime
    text: str
    rule_tags: list[str]
    p_needs_support: float
    flagged: bool
    model_version: str


@dataclass(frozen=True)
class TweetView:
    """A stored tweet with its latest decision (None while undecided)."""

    id: str
    created_at: datetime
    received_at: datetime | None
    scored_at: datetime
    arrived_at: datetime
    text: str
    url: str
    rule_tags: list[str]
    p_needs_support: float
    flagged: bool
    model_version: str
    decision: Decision | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "scored_at": self.scored_at.isoformat(),
            "url": self.url,
            "rule_tags": list(self.rule_tags),
            "p_needs_support": self.p_needs_support,
            "flagged": self.flagged,
            "model_version": self.model_version,
            "decision": None if self.decision is None else self.decision.value,
        }


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    password_hash: str
    created_at: datetime
    role: Role = Role.AGENT
    disabled_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class DecisionView:
    """A recorded decision. `earlier_by_other` is set when, as it was recorded, the tweet's
    latest decision was someone else's: they decided first, and the page can say so."""

    id: int
    tweet_id: str
    user_name: str
    decision: Decision
    decided_at: datetime
    earlier_by_other: DecisionView | None = None


@dataclass(frozen=True)
class SessionView:
    user: UserView
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenView:
    id: int
    user_name: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True)
class LatencyStats:
    """Seconds from tweets' arrival to their first decision, summarised by the database.

    `quantiles` maps each asked-for q (0..1) to its value (linear between order statistics,
    so q=0.5 is the median); `buckets` holds cumulative counts per upper bound, as
    Prometheus histograms want them.
    """

    count: int
    total_seconds: float
    quantiles: dict[float, float]
    buckets: list[tuple[float, int]]


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    total: int
    flagged: int


@dataclass(frozen=True)
class TagCount:
    tag: str
    total: int
    flagged: int


@dataclass(frozen=True)
class DashboardStats:
    since: datetime
    hours: list[HourCount]
    tags: list[TagCount]
    scored: int
    flagged: int
    queue_size: int
    decisions: dict[Decision, int]
    median_decision_seconds: float | None
    model_versions: dict[str, int]
    latest_model_version: str | None
