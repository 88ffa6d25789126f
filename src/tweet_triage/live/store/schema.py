"""The triage store's tables as SQLAlchemy 2 ORM classes, one schema for SQLite and PostgreSQL.

The Alembic migrations in `migrations/` create and change these tables; a test checks that
the migrations build exactly this schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql import false, text

from tweet_triage.data.decisions import Decision
from tweet_triage.live.replies.outbox import ReplyStatus


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def tweet_url(tweet_id: str) -> str:
    return f"https://x.com/i/web/status/{tweet_id}"


class Role(StrEnum):
    """What an account may do: an admin manages accounts and tokens, an agent triages."""

    ADMIN = "admin"
    AGENT = "agent"


class DecisionSource(StrEnum):
    """Where a decision was made: it tells the loop how strong a label it is."""

    QUEUE = "queue"
    LABEL = "label"
    API = "api"
    REPLY = "reply"  # the team answered the tweet: the strongest "needed us"


class ConversationStatus(StrEnum):
    """open -> assigned -> replied (waiting on the author) -> resolved; an author's answer
    opens it again."""

    OPEN = "open"
    ASSIGNED = "assigned"
    REPLIED = "replied"
    RESOLVED = "resolved"


class Activity(StrEnum):
    """What a teammate is doing on a tweet's page, as its heartbeat says."""

    VIEWING = "viewing"
    DRAFTING = "drafting"


def _one_of(column: str, values: type[StrEnum]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v.value}'" for v in values))


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC in and UTC out on both back ends (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    pass


# Partial-index conditions in each back end's spelling of the store's queries (SQLite uses a
# partial index only where the query repeats its condition: `flagged = 1` there).
_OPEN_SQL = "first_decided_at IS NULL"
_OPEN = {"sqlite_where": text(_OPEN_SQL), "postgresql_where": text(_OPEN_SQL)}
_DECIDED_SQL = "first_decided_at IS NOT NULL"
_DECIDED = {"sqlite_where": text(_DECIDED_SQL), "postgresql_where": text(_DECIDED_SQL)}
_ANSWERED = {
    "sqlite_where": text("first_response_at IS NOT NULL"),
    "postgresql_where": text("first_response_at IS NOT NULL"),
}
_RESOLVED = {
    "sqlite_where": text("resolved_at IS NOT NULL"),
    "postgresql_where": text("resolved_at IS NOT NULL"),
}
_ASSIGNED = {
    "sqlite_where": text("assignee_id IS NOT NULL"),
    "postgresql_where": text("assignee_id IS NOT NULL"),
}
_FLAGGED = {"sqlite_where": text("flagged = 1"), "postgresql_where": text("flagged = true")}
_FLAGGED_OPEN = {
    "sqlite_where": text(f"flagged = 1 AND {_OPEN_SQL}"),
    "postgresql_where": text(f"flagged = true AND {_OPEN_SQL}"),
}
_ANSWER_OPEN = {
    "sqlite_where": text(f"author_replied = 1 AND {_OPEN_SQL}"),
    "postgresql_where": text(f"author_replied = true AND {_OPEN_SQL}"),
}


class ScoredTweet(Base):
    __tablename__ = "scored_tweets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the tweet reached us: received_at where the streamer recorded it, else scored_at.
    # Time windows and the dashboard's hours use it (a replayed corpus has old created_at).
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime)
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(80))
    rule_tags: Mapped[list[str]] = mapped_column(
        JSON().with_variant(postgresql.JSONB(), "postgresql")
    )
    p_needs_support: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    model_version: Mapped[str] = mapped_column(String(200))
    # When the tweet's first decision was made; NULL while nobody has decided. Kept by
    # `decide` and the undo, so the queue, its size and decision latencies are index ranges
    # over the open (or decided) tweets instead of a probe of the decisions per tweet.
    first_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A fixed pseudo-random number per tweet (from a hash of its id): a random slice of the
    # open tweets in this order is a uniform sample, read from an index instead of sorting
    # every open tweet by random().
    sample_key: Mapped[float] = mapped_column(Float)
    # Who wrote it and where it sits in X's threads (NULL for tweets stored before the
    # streamer asked X for them). The store fills conversation_id with the tweet's own id
    # when X sent none: every tweet belongs to exactly one conversation row.
    author_id: Mapped[str | None] = mapped_column(String(32))
    author_name: Mapped[str | None] = mapped_column(String(200))
    author_handle: Mapped[str | None] = mapped_column(String(100))
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    in_reply_to_user_id: Mapped[str | None] = mapped_column(String(32))
    in_reply_to_tweet_id: Mapped[str | None] = mapped_column(String(32))
    # The author answering the team's reply: at the queue's top whatever the score.
    author_replied: Mapped[bool] = mapped_column(Boolean, server_default=false())

    __table_args__ = (
        # The flagged tweets by score (the lowest flagged score, their count).
        Index("ix_scored_tweets_flagged", "p_needs_support", **_FLAGGED),
        # A time window's counts (per hour, per model, the tags' tweets) from the index alone.
        Index("ix_scored_tweets_window", "arrived_at", "flagged", "model_version", "id"),
        # The open tweets only (partial indexes, small whatever the decisions): the queue
        # most likely or newest first, the label page by score and its random sample.
        Index("ix_scored_tweets_open_likely", "p_needs_support", "id", **_FLAGGED_OPEN),
        Index("ix_scored_tweets_open_newest", "arrived_at", "id", **_FLAGGED_OPEN),
        Index("ix_scored_tweets_open_p", "p_needs_support", "id", **_OPEN),
        Index("ix_scored_tweets_open_sample", "sample_key", **_OPEN),
        # The decided tweets only, by when, with whether flagged and their arrival (decision
        # latencies, the decided flagged tweets per hour: the index alone). Partial too:
        # SQLite's statistics would otherwise take `first_decided_at IS NULL` on it for a
        # handful of rows.
        Index("ix_scored_tweets_decided", "first_decided_at", "flagged", "arrived_at", **_DECIDED),
        Index("ix_scored_tweets_scored_at", "scored_at"),  # the model scoring now
        # A conversation's tweets in time order.
        Index("ix_scored_tweets_conversation", "conversation_id", "arrived_at"),
        # A conversation's open tweets (the "mine" queue: from the user's conversations to
        # their tweets nobody decided, without reading the decided ones).
        Index("ix_scored_tweets_open_conversation", "conversation_id", **_OPEN),
        # The open tweets an author's answer put at the queue's top, newest first.
        Index("ix_scored_tweets_open_answers", "arrived_at", "id", **_ANSWER_OPEN),
    )


class TweetTag(Base):
    """One row per (tweet, matched rule tag): rule_tags, indexed for filters and counts."""

    __tablename__ = "tweet_tags"

    tweet_id: Mapped[str] = mapped_column(
        ForeignKey("scored_tweets.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(200), primary_key=True, index=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    role: Mapped[str] = mapped_column(String(16), server_default=Role.AGENT.value)
    # Set while the account is disabled: it cannot log in and its API tokens do not work.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(_one_of("role", Role), name="ck_users_role"),)


class DecisionRecord(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tweet_id: Mapped[str] = mapped_column(ForeignKey("scored_tweets.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    source: Mapped[str] = mapped_column(String(16), server_default=DecisionSource.QUEUE.value)

    __table_args__ = (
        CheckConstraint(_one_of("decision", Decision), name="ck_decisions_decision"),
        CheckConstraint(_one_of("source", DecisionSource), name="ck_decisions_source"),
        # A tweet's decisions in time order (latest decision, first decision, undo) and a
        # person's decisions in a window (the label page's count): index lookups, no scans.
        Index("ix_decisions_tweet_decided", "tweet_id", "decided_at"),
        Index("ix_decisions_user_decided", "user_id", "decided_at"),
        # A person's answers in one place (the label page's "answers so far"): the index alone.
        Index("ix_decisions_user_source", "user_id", "source"),
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser login: the SHA-256 of the cookie's token, its CSRF token and its expiry."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Conversation(Base):
    """One X conversation (its root tweet's id): status, owner and the response times."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), server_default=ConversationStatus.OPEN.value)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_id: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_one_of("status", ConversationStatus), name="ck_conversations_status"),
        # SLA breaches: the waiting conversations by age; first responses by when.
        Index("ix_conversations_status_opened", "status", "opened_at"),
        # The answered conversations only (the first-response figures read no others).
        Index("ix_conversations_first_response", "first_response_at", **_ANSWERED),
        Index("ix_conversations_resolved", "resolved_at", **_RESOLVED),  # resolution times
        # A teammate's conversations ("mine"): only the assigned ones, so that the statistics
        # of a store where few are assigned do not make a lookup look like a scan.
        Index("ix_conversations_assignee", "assignee_id", **_ASSIGNED),
    )


class SavedReply(Base):
    """A team-wide canned answer, picked by its shortcode (`/thanks`)."""

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shortcode: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reply(Base):
    """A reply in the outbox: saved first (queued), then sent by the worker exactly once."""

    __tablename__ = "replies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tweet_id: Mapped[str] = mapped_column(ForeignKey("scored_tweets.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=ReplyStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    uncertain: Mapped[bool] = mapped_column(Boolean, server_default=false())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    # A `sending` reply whose lease has passed lost its worker: reclaimed as uncertain.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    x_post_id: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    saved_reply_id: Mapped[int | None] = mapped_column(
        ForeignKey("saved_replies.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(_one_of("status", ReplyStatus), name="ck_replies_status"),
        Index("ix_replies_tweet_created", "tweet_id", "created_at"),
        Index("ix_replies_due", "status", "not_before"),  # the worker's next claim
        Index("ix_replies_sent", "sent_at", "user_id"),  # replies per person in a window
    )


class Note(Base):
    """An internal note on a tweet: visible to the team, never sent."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tweet_id: Mapped[str] = mapped_column(ForeignKey("scored_tweets.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_notes_tweet_created", "tweet_id", "created_at"),)


class Presence(Base):
    """Who has a tweet open or is drafting a reply to it, as of their last heartbeat."""

    __tablename__ = "presence"

    tweet_id: Mapped[str] = mapped_column(
        ForeignKey("scored_tweets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    activity: Mapped[str] = mapped_column(String(16))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint(_one_of("activity", Activity), name="ck_presence_activity"),)


class XAccountToken(Base):
    """The connected X account's tokens, sealed (Fernet): one row, id 1."""

    __tablename__ = "x_account_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("id = 1", name="ck_x_account_tokens_one_row"),)
