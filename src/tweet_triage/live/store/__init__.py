"""The triage store: scored tweets, the team's decisions, users, API tokens and web sessions.

One SQLAlchemy 2 schema (`schema`) for SQLite and PostgreSQL, set up in `engine`; the read
models it hands out are in `views`. Each concern has its module (`tweets`, `decisions`,
`accounts`, `dashboard`); `TriageStore` is all of them over one engine.
"""

from __future__ import annotations

from tweet_triage.live.store.accounts import TOKEN_LIFETIME, Accounts, check_user_name
from tweet_triage.live.store.dashboard import Dashboard
from tweet_triage.live.store.engine import (
    MIGRATIONS_DIR,
    Database,
    normalise_database_url,
    redact_url,
)
from tweet_triage.live.store.errors import (
    DatabaseUnavailableError,
    DecidedByOtherError,
    DuplicateUserError,
    InvalidUserNameError,
    LastAdminError,
    StoreError,
    UnknownTweetError,
    UnknownUserError,
)
from tweet_triage.live.store.schema import Base, Role, UTCDateTime, tweet_url, utc_now
from tweet_triage.live.store.tweets import QueueOrder
from tweet_triage.live.store.views import (
    DashboardStats,
    DecisionView,
    HourCount,
    LatencyStats,
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
    "TOKEN_LIFETIME",
    "Base",
    "DashboardStats",
    "Database",
    "DatabaseUnavailableError",
    "DecidedByOtherError",
    "DecisionView",
    "DuplicateUserError",
    "HourCount",
    "InvalidUserNameError",
    "LastAdminError",
    "LatencyStats",
    "QueueOrder",
    "Role",
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
    "check_user_name",
    "normalise_database_url",
    "redact_url",
    "tweet_url",
    "utc_now",
]
