"""What the store hands out: plain frozen dataclasses, never live ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tweet_triage.data.decisions import Decision
from tweet_triage.live.replies.outbox import ReplyStatus
from tweet_triage.live.store.schema import (
    Activity,
    ConversationStatus,
    DecisionSource,
    Role,
    tweet_url,
)

SAVED_REPLY_VARIABLES = ("author", "handle", "agent")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


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
    author_id: str | None = None
    author_name: str | None = None
    author_handle: str | None = None
    conversation_id: str | None = None  # None: the tweet starts its own conversation
    in_reply_to_user_id: str | None = None
    in_reply_to_tweet_id: str | None = None


@dataclass(frozen=True)
class TweetView:
    """A stored tweet with its latest decision (None while undecided), its author and its
    conversation's state (status, assignee's name, first response, the team's replies)."""

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
    author_id: str | None = None
    author_name: str | None = None
    author_handle: str | None = None
    conversation_id: str | None = None
    in_reply_to_tweet_id: str | None = None
    status: ConversationStatus | None = None
    assignee: str | None = None
    author_replied: bool = False
    first_response_at: datetime | None = None
    replies_count: int = 0

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
            "author_id": self.author_id,
            "author_name": self.author_name,
            "author_handle": self.author_handle,
            "conversation_id": self.conversation_id,
            "in_reply_to_tweet_id": self.in_reply_to_tweet_id,
            "status": None if self.status is None else self.status.value,
            "assignee": self.assignee,
            "author_replied": self.author_replied,
            "first_response_at": _iso(self.first_response_at),
            "replies_count": self.replies_count,
        }


@dataclass(frozen=True)
class QueuePage:
    """The queue page's rows, the whole queue's size, and its size with the page's filters."""

    tweets: list[TweetView]
    queue_size: int
    filtered_size: int


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
    source: DecisionSource = DecisionSource.QUEUE


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
class StoreTotals:
    """The store's running totals as of `computed_at` (the inbox's /metrics and loop card)."""

    scored: int
    flagged: int
    queue_size: int
    decided_tweets: int
    computed_at: datetime


@dataclass(frozen=True)
class QueueHour:
    """The flagged tweets nobody had decided on at the end of an hour."""

    hour: datetime
    open: int


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
    # The answering side: the open queue hour by hour beside the median first response, the
    # conversations past the SLA and the sent replies per teammate.
    open_queue: list[QueueHour] = field(default_factory=list)
    first_responses: list[HourValue] = field(default_factory=list)
    median_first_response_seconds: float | None = None
    # First tweet to resolution, of the conversations resolved in the window: p50 and p95.
    resolution_seconds: dict[float, float] = field(default_factory=dict)
    resolved: int = 0
    sla_breaches: int = 0
    replies_per_person: dict[str, int] = field(default_factory=dict)
    computed_at: datetime | None = None  # when the database was asked


@dataclass(frozen=True)
class HourValue:
    """One hour's median first-response time and how many first responses it holds."""

    hour: datetime
    p50_seconds: float
    count: int


@dataclass(frozen=True)
class ReplyView:
    """A reply in the outbox. `author` is the teammate who wrote it; `not_before` is when a
    queued reply is tried (again)."""

    id: int
    tweet_id: str
    conversation_id: str
    status: ReplyStatus
    text: str
    x_post_id: str | None
    error: str | None
    author: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    not_before: datetime
    saved_reply_id: int | None = None

    @property
    def x_url(self) -> str | None:
        return None if self.x_post_id is None else tweet_url(self.x_post_id)

    @property
    def retry_at(self) -> datetime | None:
        """When a reply that waits after a failed try goes again (None on the first try)."""
        waiting = self.status in (ReplyStatus.QUEUED, ReplyStatus.SENDING)
        return self.not_before if waiting and self.attempts else None

    def as_json(self) -> dict[str, Any]:
        """The API's reply: a reply being sent shows as queued (it is not sent yet)."""
        status = ReplyStatus.QUEUED if self.status is ReplyStatus.SENDING else self.status
        return {
            "id": self.id,
            "tweet_id": self.tweet_id,
            "status": status.value,
            "x_tweet_id": self.x_post_id,
            "x_url": self.x_url,
            "error": self.error,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
            "sent_at": _iso(self.sent_at),
            "text": self.text,
            "retry_at": _iso(self.retry_at),
        }


@dataclass(frozen=True)
class NoteView:
    id: int
    tweet_id: str
    user: str | None  # the teammate; None once their account was removed
    text: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tweet_id": self.tweet_id,
            "user": self.user,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class PresenceView:
    user: str
    activity: Activity
    seen_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "activity": self.activity.value, "seen_at": _iso(self.seen_at)}


@dataclass(frozen=True)
class SavedReplyView:
    """A saved reply; its text may hold {author}, {handle} and {agent}."""

    id: int
    shortcode: str
    title: str
    text: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime

    def expand(self, *, author: str | None, handle: str | None, agent: str) -> str:
        """The text with its variables filled (any other braces are left as written)."""
        values = {"author": author or handle or "", "handle": f"@{handle}" if handle else ""}
        values["agent"] = agent
        text = self.text
        for name in SAVED_REPLY_VARIABLES:
            text = text.replace("{" + name + "}", values[name])
        return text

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shortcode": self.shortcode,
            "title": self.title,
            "text": self.text,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


@dataclass(frozen=True)
class ConversationView:
    """A conversation as the store holds it: its tweets and the team's replies in time order,
    its status and owner, its author, and the team's notes on its tweets."""

    id: str
    status: ConversationStatus
    assignee: str | None
    author_id: str | None
    author_name: str | None
    author_handle: str | None
    opened_at: datetime
    reopened_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    tweets: list[TweetView]
    replies: list[ReplyView]
    notes: list[NoteView]

    @property
    def conversation_id(self) -> str:
        return self.id

    def as_json(self) -> dict[str, Any]:
        timeline = [("tweet", t.arrived_at, t.as_json()) for t in self.tweets] + [
            ("reply", r.created_at, r.as_json()) for r in self.replies
        ]
        timeline.sort(key=lambda item: item[1])
        return {
            "id": self.id,
            "conversation_id": self.id,
            "status": self.status.value,
            "assignee": self.assignee,
            "author_name": self.author_name,
            "author_handle": self.author_handle,
            "author": {
                "id": self.author_id,
                "name": self.author_name,
                "handle": self.author_handle,
            },
            "opened_at": self.opened_at.isoformat(),
            "reopened_at": _iso(self.reopened_at),
            "first_response_at": _iso(self.first_response_at),
            "resolved_at": _iso(self.resolved_at),
            "tweets": [t.as_json() for t in self.tweets],
            "replies": [r.as_json() for r in self.replies],
            "notes": [n.as_json() for n in self.notes],
            "timeline": [{"kind": kind, **item} for kind, _at, item in timeline],
        }
