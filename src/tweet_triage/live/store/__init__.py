"""The triage store: scored tweets, the team's decisions, users, API tokens and web sessions.

One SQLAlchemy 2 schema (`schema`) for SQLite and PostgreSQL, set up in `engine`; the read
models it hands out are in `views`. Each concern has its module (`tweets`, `decisions`,
`accounts`, `dashboard`); `TriageStore` is all of them over one engine.
"""

from __future__ import annotations

from tweet_triage.live.store.accounts import Accounts
from tweet_triage.live.store.dashboard import Dashboard
from tweet_triage.live.store.engine import (
    MIGRATIONS_DIR,
    Database,
    normalise_database_url,
    redact_url,
)
from tweet_triage.live.store.errors import (
    DatabaseUnavailableError,
    DuplicateUserError,
    StoreError,
    UnknownTweetError,
    UnknownUserError,
)
from tweet_triage.live.store.schema import Base, UTCDateTime, tweet_url, utc_now
from tweet_triage.live.store.tweets import QueueOrder
from tweet_triage.live.store.views import (
    DashboardStats,
    DecisionView,
    HourCount,
    ScoredRecord,
    SessionView,
    TagCount,
    TokenView,
    TweetView,
    UserView,
)


class TriageStore(Dashboard, Accounts):
    """The triage database. Construct with a SQLAlchemy URL, then `migrate()` once."""


__all__ = [
    "MIGRATIONS_DIR",
    "Base",
    "DashboardStats",
    "Database",
    "DatabaseUnavailableError",
    "DecisionView",
    "DuplicateUserError",
    "HourCount",
    "QueueOrder",
    "ScoredRecord",
    "SessionView",
    "StoreError",
    "TagCount",
    "TokenView",
    "TriageStore",
    "TweetView",
    "UTCDateTime",
    "UnknownTweetError",
    "UnknownUserError",
    "UserView",
    "normalise_database_url",
    "redact_url",
    "tweet_url",
    "utc_now",
]
