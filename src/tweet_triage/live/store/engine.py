"""Connecting to the triage database: URLs, the engine per back end, sessions and migrations.

A SQLite file in the state folder by default (WAL mode, so the scorer writes while the inbox
reads) and PostgreSQL (psycopg 3) when `TRIAGE_DATABASE_URL` says so. The schema is created
and changed only by the Alembic migrations in `migrations/`; `migrate()` runs them and is
safe to repeat.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, Self

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tweet_triage.live.store.errors import DatabaseUnavailableError, StoreError
from tweet_triage.live.store.fresh import FIGURES_MAX_AGE, Fresh

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Connections per process on both back ends: the inbox's worker threads and the scorer.
POOL: dict[str, Any] = {"pool_size": 10, "max_overflow": 20}
# Each PostgreSQL session's settings. The store's reads are short index lookups over a
# working set that stays in memory: a random page costs about what a sequential one does
# (the default of 4 makes the planner walk a large index and filter rather than read a small
# partial one), and compiling a plan to machine code (JIT) or starting parallel workers for
# a count of the open queue costs more than it saves (at 1 M tweets the queue's count took
# 8.2 ms with two parallel workers, of which each counted for 2.4 ms).
POSTGRES_OPTIONS = (
    "-c timezone=UTC -c random_page_cost=1.1 -c jit=off -c max_parallel_workers_per_gather=0"
)


class StoreSettings(Protocol):
    @property
    def triage_store_url(self) -> str: ...


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


def new_engine(url: str) -> Engine:
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
        engine = create_engine(url, connect_args={"timeout": 30}, **POOL)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(
            url,
            pool_pre_ping=True,
            **POOL,
            connect_args={"options": POSTGRES_OPTIONS, "connect_timeout": 10},
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


@contextmanager
def _foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite changes a table by copying it and dropping the old one, and with foreign keys
    on, that drop would cascade to the rows that refer to it (tokens, sessions)."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def _first_line(exc: OperationalError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)


class Database:
    """The engine, one transaction per call, and the schema's migrations.

    The store's parts (tweets, decisions, accounts, dashboard) build on it; each of their
    methods opens and closes its own transaction.
    """

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        self.engine = new_engine(self.url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._fresh = Fresh(FIGURES_MAX_AGE)  # figures and page furniture, kept briefly

    @classmethod
    def from_settings(cls, settings: StoreSettings) -> Self:
        return cls(settings.triage_store_url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact_url(self.url)!r})"

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
                f"({_first_line(exc)}); check that it is running and reachable "
                "(TRIAGE_DATABASE_URL), then retry"
            ) from exc

    def migrate(self) -> str:
        """Bring the schema to the newest migration (a no-op when it is there); return it."""
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        try:
            with (
                self.engine.connect() as connection,
                _foreign_keys_off(connection),
                connection.begin(),
            ):
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
            return self.schema_revision() or "none"
        except OperationalError as exc:
            raise DatabaseUnavailableError(
                f"cannot migrate the triage database {redact_url(self.url)}: "
                f"{_first_line(exc)}; check that it is running and reachable "
                "(TRIAGE_DATABASE_URL)"
            ) from exc

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
