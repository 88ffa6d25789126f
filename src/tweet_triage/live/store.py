"""The triage store: scored tweets, the team's decisions, users, API tokens and web sessions.

One SQLAlchemy 2 schema for both back ends: a SQLite file in the state folder by default (WAL
mode, so the scorer writes while the inbox reads) and PostgreSQL (psycopg 3) when
`TRIAGE_DATABASE_URL` says so. The schema is created and changed only by the Alembic
migrations shipped in `migrations/`; `TriageStore.migrate()` runs them and is safe to repeat.

Writes of scored tweets are upserts by tweet id (`INSERT ... ON CONFLICT DO UPDATE` on both
dialects), so a micro-batch replayed after a crash changes nothing. Every method opens and
closes its own transaction and returns plain frozen dataclasses, never live ORM objects.
Secrets never reach this module in clear: passwords arrive argon2-hashed, API tokens and
session tokens as SHA-256 digests (see `web.security`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

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
    String,
    Text,
    TypeDecorator,
    create_engine,
    delete,
    event,
    exists,
    func,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from tweet_triage.errors import TriageError

DECISIONS = ("handled", "not_for_us", "needed_us")
Decision = Literal["handled", "not_for_us", "needed_us"]
QueueOrder = Literal["likely", "newest"]
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_UPSERT_CHUNK = 500


class StoreError(TriageError):
    """The triage store cannot do what was asked; the message names the input and the fix."""


class UnknownTweetError(StoreError, LookupError):
    def __init__(self, tweet_id: str) -> None:
        super().__init__(f"no tweet with id {tweet_id!r} in the triage store")
        self.tweet_id = tweet_id


class UnknownUserError(StoreError, LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"no user {name!r} in the triage store; create it with "
            f"`tweet-triage triage users add {name}`"
        )
        self.name = name


class DuplicateUserError(StoreError):
    pass


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached (or is locked); retrying later may work."""


def tweet_url(tweet_id: str) -> str:
    return f"https://x.com/i/web/status/{tweet_id}"


def _utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC in and UTC out on both back ends (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _utc(value)


class Base(DeclarativeBase):
    pass


class ScoredTweet(Base):
    __tablename__ = "scored_tweets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the tweet reached us: received_at where the streamer recorded it, else scored_at.
    # Time windows and the dashboard's hours use it (a replayed corpus has old created_at).
    arrived_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(String(80))
    rule_tags: Mapped[list[str]] = mapped_column(
        JSON().with_variant(postgresql.JSONB(), "postgresql")
    )
    p_needs_support: Mapped[float] = mapped_column(Float)
    flagged: Mapped[bool] = mapped_column(Boolean)
    model_version: Mapped[str] = mapped_column(String(200))

    __table_args__ = (Index("ix_scored_tweets_flagged_p", "flagged", "p_needs_support"),)


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


class DecisionRecord(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tweet_id: Mapped[str] = mapped_column(
        ForeignKey("scored_tweets.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (
        CheckConstraint(
            "decision IN ('handled', 'not_for_us', 'needed_us')", name="ck_decisions_decision"
        ),
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A browser login: the SHA-256 of the cookie's token, its CSRF token and its expiry."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# --- what the store hands out ------------------------------------------------------------------


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
    decision: str | None = None

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
            "decision": self.decision,
        }


@dataclass(frozen=True)
class UserView:
    id: int
    name: str
    password_hash: str
    created_at: datetime


@dataclass(frozen=True)
class DecisionView:
    id: int
    tweet_id: str
    user_name: str
    decision: str
    decided_at: datetime


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
    decisions: dict[str, int]
    median_decision_seconds: float | None
    model_versions: dict[str, int]
    latest_model_version: str | None


def _tweet_view(row: ScoredTweet, decision: str | None = None) -> TweetView:
    return TweetView(
        id=row.id,
        created_at=row.created_at,
        received_at=row.received_at,
        scored_at=row.scored_at,
        arrived_at=row.arrived_at,
        text=row.text,
        url=row.url,
        rule_tags=list(row.rule_tags or []),
        p_needs_support=row.p_needs_support,
        flagged=row.flagged,
        model_version=row.model_version,
        decision=decision,
    )


def _user_view(row: User) -> UserView:
    return UserView(row.id, row.name, row.password_hash, row.created_at)


def normalise_database_url(url: str) -> str:
    """`postgresql://...` means psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _new_engine(url: str) -> Engine:
    url = normalise_database_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"TRIAGE_DATABASE_URL={url!r} is not a database URL; use sqlite:///path/triage.db "
            "or postgresql://user:password@host:5432/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailableError(
                    f"cannot create {folder} for the triage database ({exc.strerror}); set "
                    "TRIAGE_DATABASE_URL or TT_STATE_DIR to a writable place"
                ) from exc
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args={"options": "-c timezone=UTC", "connect_timeout": 10},
        )
    raise StoreError(
        f"TRIAGE_DATABASE_URL uses {backend!r}; the triage store supports sqlite and postgresql"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the scorer's writes
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class TriageStore:
    """The triage database. Construct with a SQLAlchemy URL, then `migrate()` once."""

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        self.engine = _new_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: Any) -> TriageStore:
        return cls(settings.triage_store_url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"TriageStore({redact_url(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except OperationalError as exc:
            raise DatabaseUnavailableError(
                f"the triage database {redact_url(self.url)} cannot be used right now "
                f"({str(exc.orig).strip().splitlines()[0] if exc.orig else exc}); check that it "
                "is running and reachable (TRIAGE_DATABASE_URL), then retry"
            ) from exc

    # --- schema ----------------------------------------------------------------------------

    def migrate(self) -> str:
        """Bring the schema to the newest migration (a no-op when it is there); return it."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return self.schema_revision() or "none"
        except OperationalError as exc:
            raise DatabaseUnavailableError(
                f"cannot migrate the triage database {redact_url(self.url)}: "
                f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}; check that it is "
                "running and reachable (TRIAGE_DATABASE_URL)"
            ) from exc

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    # --- scored tweets ---------------------------------------------------------------------

    def upsert_scored(self, records: Iterable[ScoredRecord]) -> int:
        """Insert or replace scored tweets by id; return how many distinct tweets were written.

        A tweet scored again (a replayed micro-batch, a new model) keeps its first arrival
        time and its decisions; everything else takes the new values.
        """
        latest: dict[str, ScoredRecord] = {}
        for record in records:
            latest[record.id] = record
        rows = [_scored_row(r) for r in latest.values()]
        if not rows:
            return 0
        with self._session() as session:
            connection = session.connection()
            for start in range(0, len(rows), _UPSERT_CHUNK):
                chunk = rows[start : start + _UPSERT_CHUNK]
                self._upsert_chunk(connection, chunk)
        return len(rows)

    def _upsert_chunk(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        table = ScoredTweet.__table__
        statement = dialect_insert(table).values(rows)
        excluded = statement.excluded
        replaced = {
            column.name: excluded[column.name]
            for column in table.columns
            if column.name not in ("id", "received_at", "arrived_at")
        }
        replaced["received_at"] = func.coalesce(table.c.received_at, excluded.received_at)
        replaced["arrived_at"] = func.coalesce(table.c.arrived_at, excluded.arrived_at)
        connection.execute(statement.on_conflict_do_update(index_elements=["id"], set_=replaced))
        ids = [row["id"] for row in rows]
        connection.execute(delete(TweetTag).where(TweetTag.tweet_id.in_(ids)))
        tags = [{"tweet_id": row["id"], "tag": tag} for row in rows for tag in row["rule_tags"]]
        if tags:
            connection.execute(TweetTag.__table__.insert(), tags)

    def count_scored(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(ScoredTweet)) or 0)

    def count_flagged(self) -> int:
        with self._session() as session:
            return int(
                session.scalar(select(func.count()).where(ScoredTweet.flagged.is_(True))) or 0
            )

    def get_tweet(self, tweet_id: str) -> TweetView:
        with self._session() as session:
            row = session.get(ScoredTweet, tweet_id)
            if row is None:
                raise UnknownTweetError(tweet_id)
            return _tweet_view(row, session.scalar(_latest_decision_of(tweet_id).limit(1)))

    def queue(
        self,
        *,
        order: QueueOrder = "likely",
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[TweetView]:
        """Flagged tweets nobody has decided on yet: most likely first, or newest first."""
        query = select(ScoredTweet).where(ScoredTweet.flagged.is_(True), ~_has_decision())
        query = _filtered(query, tag, since)
        if order == "newest":
            query = query.order_by(ScoredTweet.arrived_at.desc(), ScoredTweet.id.desc())
        else:
            query = query.order_by(ScoredTweet.p_needs_support.desc(), ScoredTweet.id.desc())
        with self._session() as session:
            return [_tweet_view(row) for row in session.scalars(query.limit(limit))]

    def lowest_flagged_score(self) -> float | None:
        """The lowest P(needs support) the scorer flagged: the threshold it scores at."""
        query = select(func.min(ScoredTweet.p_needs_support)).where(ScoredTweet.flagged.is_(True))
        with self._session() as session:
            lowest = session.scalar(query)
        return None if lowest is None else float(lowest)

    def undecided(self, *, closest_to: float | None = None, limit: int = 200) -> list[TweetView]:
        """Tweets nobody has decided on (flagged or not): the scores closest to `closest_to`
        first, or in random order without it (the label page's two pools)."""
        order = (
            func.random()
            if closest_to is None
            else func.abs(ScoredTweet.p_needs_support - closest_to)
        )
        query = select(ScoredTweet).where(~_has_decision()).order_by(order, ScoredTweet.id)
        with self._session() as session:
            return [_tweet_view(row) for row in session.scalars(query.limit(limit))]

    def queue_size(self) -> int:
        query = select(func.count()).where(ScoredTweet.flagged.is_(True), ~_has_decision())
        with self._session() as session:
            return int(session.scalar(query) or 0)

    def tweets(
        self,
        *,
        flagged: bool | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[TweetView]:
        """Every tweet (newest first) with its latest decision: where misses are found."""
        latest = _latest_decision_of(ScoredTweet.id).limit(1).scalar_subquery().label("decision")
        query = select(ScoredTweet, latest)
        if flagged is not None:
            query = query.where(ScoredTweet.flagged.is_(flagged))
        query = _filtered(query, tag, since).order_by(
            ScoredTweet.arrived_at.desc(), ScoredTweet.id.desc()
        )
        with self._session() as session:
            return [
                _tweet_view(row, decision) for row, decision in session.execute(query.limit(limit))
            ]

    def rule_tags(self) -> list[str]:
        with self._session() as session:
            return list(session.scalars(select(TweetTag.tag).distinct().order_by(TweetTag.tag)))

    # --- decisions -------------------------------------------------------------------------

    def decide(
        self, tweet_id: str, user_id: int, decision: str, decided_at: datetime | None = None
    ) -> DecisionView:
        """Record a decision on a tweet (who and when); the latest one counts."""
        if decision not in DECISIONS:
            raise StoreError(f"decision {decision!r} is not one of {', '.join(DECISIONS)}")
        with self._session() as session:
            if session.get(ScoredTweet, tweet_id) is None:
                raise UnknownTweetError(tweet_id)
            user = session.get(User, user_id)
            if user is None:
                raise StoreError(f"no user with id {user_id}")
            record = DecisionRecord(
                tweet_id=tweet_id,
                user_id=user_id,
                decision=decision,
                decided_at=_utc(decided_at or utc_now()),
            )
            session.add(record)
            session.flush()
            return DecisionView(record.id, tweet_id, user.name, decision, record.decided_at)

    def undo_last_decision(self, tweet_id: str, user_id: int) -> bool:
        """Delete this user's latest decision on a tweet (the label page's undo)."""
        with self._session() as session:
            latest = session.scalar(
                select(DecisionRecord.id)
                .where(DecisionRecord.tweet_id == tweet_id, DecisionRecord.user_id == user_id)
                .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
                .limit(1)
            )
            if latest is None:
                return False
            session.execute(delete(DecisionRecord).where(DecisionRecord.id == latest))
        return True

    def decisions(self, since: datetime | None = None) -> list[DecisionView]:
        """Every decision (oldest first): the team's labels."""
        query = (
            select(DecisionRecord, User.name)
            .join(User, User.id == DecisionRecord.user_id)
            .order_by(DecisionRecord.decided_at, DecisionRecord.id)
        )
        if since is not None:
            query = query.where(DecisionRecord.decided_at >= _utc(since))
        with self._session() as session:
            return [
                DecisionView(d.id, d.tweet_id, name, d.decision, d.decided_at)
                for d, name in session.execute(query)
            ]

    def decision_latencies(self, since: datetime | None = None) -> list[float]:
        """Seconds from each decided tweet's arrival to its first decision."""
        first = (
            select(DecisionRecord.tweet_id, func.min(DecisionRecord.decided_at).label("decided_at"))
            .group_by(DecisionRecord.tweet_id)
            .subquery()
        )
        query = select(ScoredTweet.arrived_at, first.c.decided_at).join(
            first, first.c.tweet_id == ScoredTweet.id
        )
        if since is not None:
            query = query.where(first.c.decided_at >= _utc(since))
        decided_type = UTCDateTime()
        with self._session() as session:
            rows = session.execute(query).all()
        dialect = self.engine.dialect
        latencies = []
        for arrived, decided in rows:
            if not isinstance(decided, datetime):  # SQLite returns MIN() as text
                decided = decided_type.process_result_value(
                    datetime.fromisoformat(str(decided)), dialect
                )
            latencies.append(max(0.0, (_utc(decided) - arrived).total_seconds()))
        return latencies

    # --- users, tokens, sessions -----------------------------------------------------------

    def add_user(self, name: str, password_hash: str) -> UserView:
        try:
            with self._session() as session:
                user = User(name=name, password_hash=password_hash, created_at=utc_now())
                session.add(user)
                session.flush()
                return _user_view(user)
        except IntegrityError as exc:
            raise DuplicateUserError(
                f"user {name!r} already exists; choose another name or change its password "
                f"with `tweet-triage triage users add {name} --replace`"
            ) from exc

    def set_password_hash(self, name: str, password_hash: str) -> UserView:
        with self._session() as session:
            user = session.scalar(select(User).where(User.name == name))
            if user is None:
                raise UnknownUserError(name)
            user.password_hash = password_hash
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            return _user_view(user)

    def user_by_name(self, name: str) -> UserView | None:
        with self._session() as session:
            user = session.scalar(select(User).where(User.name == name))
            return None if user is None else _user_view(user)

    def users(self) -> list[UserView]:
        with self._session() as session:
            return [_user_view(u) for u in session.scalars(select(User).order_by(User.name))]

    def add_token(self, user_name: str, name: str, token_hash: str) -> int:
        with self._session() as session:
            user = session.scalar(select(User).where(User.name == user_name))
            if user is None:
                raise UnknownUserError(user_name)
            token = ApiToken(
                user_id=user.id, name=name, token_hash=token_hash, created_at=utc_now()
            )
            session.add(token)
            session.flush()
            return token.id

    def tokens(self) -> list[TokenView]:
        query = select(ApiToken, User.name).join(User).order_by(ApiToken.id)
        with self._session() as session:
            return [
                TokenView(t.id, user, t.name, t.created_at, t.last_used_at)
                for t, user in session.execute(query)
            ]

    def revoke_token(self, token_id: int) -> bool:
        with self._session() as session:
            return bool(session.execute(delete(ApiToken).where(ApiToken.id == token_id)).rowcount)

    def user_for_token(self, token_hash: str) -> UserView | None:
        """The token's user (and the token's last use recorded), or None."""
        with self._session() as session:
            row = session.execute(
                select(ApiToken, User).join(User).where(ApiToken.token_hash == token_hash)
            ).first()
            if row is None:
                return None
            token, user = row
            now = utc_now()
            if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
                token.last_used_at = now
            return _user_view(user)

    def add_session(
        self, token_hash: str, user_id: int, csrf_token: str, expires_at: datetime
    ) -> None:
        with self._session() as session:
            now = utc_now()
            session.execute(delete(WebSession).where(WebSession.expires_at < now))
            session.add(
                WebSession(
                    token_hash=token_hash,
                    user_id=user_id,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=_utc(expires_at),
                )
            )

    def session_for(self, token_hash: str) -> SessionView | None:
        with self._session() as session:
            row = session.execute(
                select(WebSession, User)
                .join(User)
                .where(WebSession.token_hash == token_hash, WebSession.expires_at > utc_now())
            ).first()
            if row is None:
                return None
            web_session, user = row
            return SessionView(_user_view(user), web_session.csrf_token, web_session.expires_at)

    def delete_session(self, token_hash: str) -> None:
        with self._session() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))

    # --- dashboard ---------------------------------------------------------------------------

    def dashboard(self, since: datetime) -> DashboardStats:
        """Volume and needs-support share per hour and per rule tag since `since`, and more."""
        since = _utc(since)
        in_window = ScoredTweet.arrived_at >= since
        flagged_count = func.sum(func.cast(ScoredTweet.flagged, Integer))
        hour = self._hour_of(ScoredTweet.arrived_at)
        with self._session() as session:
            hours = [
                HourCount(self._as_hour(h), int(total), int(flagged or 0))
                for h, total, flagged in session.execute(
                    select(hour.label("hour"), func.count(), flagged_count)
                    .where(in_window)
                    .group_by("hour")
                    .order_by("hour")
                )
            ]
            tags = [
                TagCount(tag, int(total), int(flagged or 0))
                for tag, total, flagged in session.execute(
                    select(TweetTag.tag, func.count(), flagged_count)
                    .join(ScoredTweet, ScoredTweet.id == TweetTag.tweet_id)
                    .where(in_window)
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
            decisions = {
                decision: int(n)
                for decision, n in session.execute(
                    select(DecisionRecord.decision, func.count())
                    .where(DecisionRecord.decided_at >= since)
                    .group_by(DecisionRecord.decision)
                )
            }
        latencies = self.decision_latencies(since)
        return DashboardStats(
            since=since,
            hours=hours,
            tags=tags,
            scored=sum(h.total for h in hours),
            flagged=sum(h.flagged for h in hours),
            queue_size=self.queue_size(),
            decisions=decisions,
            median_decision_seconds=statistics.median(latencies) if latencies else None,
            model_versions=versions,
            latest_model_version=latest_version,
        )

    def _hour_of(self, column: Any) -> Any:
        if self.dialect == "postgresql":
            return func.date_trunc("hour", column)
        return func.strftime("%Y-%m-%d %H:00:00", column)

    @staticmethod
    def _as_hour(value: Any) -> datetime:
        if isinstance(value, datetime):
            return _utc(value)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def _scored_row(record: ScoredRecord) -> dict[str, Any]:
    if not record.id or not str(record.id).isdigit():
        raise StoreError(f"tweet id {record.id!r} is not a numeric X tweet id")
    scored_at = _utc(record.scored_at)
    received_at = _utc(record.received_at) if record.received_at else None
    return {
        "id": str(record.id),
        "created_at": _utc(record.created_at),
        "received_at": received_at,
        "scored_at": scored_at,
        "arrived_at": received_at or scored_at,
        "text": record.text,
        "url": tweet_url(str(record.id)),
        "rule_tags": sorted({str(tag) for tag in record.rule_tags}),
        "p_needs_support": float(record.p_needs_support),
        "flagged": bool(record.flagged),
        "model_version": str(record.model_version),
    }


def _has_decision() -> Any:
    return exists().where(DecisionRecord.tweet_id == ScoredTweet.id)


def _latest_decision_of(tweet_id: Any) -> Any:
    return (
        select(DecisionRecord.decision)
        .where(DecisionRecord.tweet_id == tweet_id)
        .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
    )


def _filtered(query: Any, tag: str | None, since: datetime | None) -> Any:
    if tag:
        query = query.where(
            exists().where(TweetTag.tweet_id == ScoredTweet.id, TweetTag.tag == tag)
        )
    if since is not None:
        query = query.where(ScoredTweet.arrived_at >= _utc(since))
    return query


__all__: Sequence[str] = (
    "DECISIONS",
    "DashboardStats",
    "DatabaseUnavailableError",
    "DecisionView",
    "DuplicateUserError",
    "ScoredRecord",
    "StoreError",
    "TriageStore",
    "TweetView",
    "UnknownTweetError",
    "UnknownUserError",
    "UserView",
)
