"""The triage store: scored tweets, the team's decisions and replies, conversations, users, API
tokens and web sessions.

One SQLAlchemy 2 schema (`schema`) for SQLite and PostgreSQL, set up in `engine`; the read
models it hands out are in `views`. Each concern has its module (`tweets`, `decisions`,
`accounts`, `dashboard`, `replies`, `conversations`); `TriageStore` is all of them over one
engine.
"""

from __future__ import annotations

from tweet_triage.live.store.accounts import TOKEN_LIFETIME, Accounts, check_user_name
from tweet_triage.live.store.conversations import PRESENCE_WINDOW, Conversations, check_shortcode
from tweet_triage.live.store.dashboard import Dashboard
from tweet_triage.live.store.engine import (
    MIGRATIONS_DIR,
    Database,
    normalise_database_url,
    redact_url,
)
from tweet_triage.live.store.errors import (
    AlreadyRepliedError,
    DatabaseUnavailableError,
    DecidedByOtherError,
    DuplicateShortcodeError,
    DuplicateUserError,
    InvalidShortcodeError,
    InvalidUserNameError,
    LastAdminError,
    ReplyNotFailedError,
    ReplyTextError,
    StoreError,
    UnknownReplyError,
    UnknownSavedReplyError,
    UnknownTweetError,
    UnknownUserError,
)
from tweet_triage.live.store.fresh import FIGURES_MAX_AGE, Fresh
from tweet_triage.live.store.replies import LEASE, Replies, StoredTokenSlot, check_reply_text
from tweet_triage.live.store.schema import (
    Activity,
    Base,
    ConversationStatus,
    DecisionSource,
    Role,
    UTCDateTime,
    tweet_url,
    utc_now,
)
from tweet_triage.live.store.tweets import QueueOrder, QueueOwner
from tweet_triage.live.store.views import (
    ConversationView,
    DashboardStats,
    DecisionView,
    HourCount,
    HourValue,
    LatencyStats,
    NoteView,
    PresenceView,
    QueueHour,
    QueuePage,
    ReplyView,
    SavedReplyView,
    ScoredRecord,
    SessionView,
    StoreTotals,
    TagCount,
    TokenView,
    TweetView,
    UserView,
)


class TriageStore(Dashboard, Replies, Conversations, Accounts):
    """The triage database. Construct with a SQLAlchemy URL, then `migrate()` once.

    It is also the reply outbox's store (`replies.outbox.OutboxStore`): the worker calls
    `send_next(store, poster, clock)`.
    """


__all__ = [
    "FIGURES_MAX_AGE",
    "LEASE",
    "MIGRATIONS_DIR",
    "PRESENCE_WINDOW",
    "TOKEN_LIFETIME",
    "Activity",
    "AlreadyRepliedError",
    "Base",
    "ConversationStatus",
    "ConversationView",
    "DashboardStats",
    "Database",
    "DatabaseUnavailableError",
    "DecidedByOtherError",
    "DecisionSource",
    "DecisionView",
    "DuplicateShortcodeError",
    "DuplicateUserError",
    "Fresh",
    "HourCount",
    "HourValue",
    "InvalidShortcodeError",
    "InvalidUserNameError",
    "LastAdminError",
    "LatencyStats",
    "NoteView",
    "PresenceView",
    "QueueHour",
    "QueueOrder",
    "QueueOwner",
    "QueuePage",
    "ReplyNotFailedError",
    "ReplyTextError",
    "ReplyView",
    "Role",
    "SavedReplyView",
    "ScoredRecord",
    "SessionView",
    "StoreError",
    "StoreTotals",
    "StoredTokenSlot",
    "TagCount",
    "TokenView",
    "TriageStore",
    "TweetView",
    "UTCDateTime",
    "UnknownReplyError",
    "UnknownSavedReplyError",
    "UnknownTweetError",
    "UnknownUserError",
    "UserView",
    "check_reply_text",
    "check_shortcode",
    "check_user_name",
    "normalise_database_url",
    "redact_url",
    "tweet_url",
    "utc_now",
]
