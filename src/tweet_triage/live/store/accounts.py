"""Accounts: inbox users (with their role), their API tokens and their browser sessions.

Secrets never reach the store in clear: passwords arrive argon2-hashed, API tokens and
session tokens as SHA-256 digests (see `web.security`). A disabled user keeps their name on
their decisions but cannot log in, and their sessions and tokens stop working. A new
password ends every session and revokes every API token of the user.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import (
    DuplicateUserError,
    InvalidUserNameError,
    LastAdminError,
    StoreError,
    UnknownUserError,
)
from tweet_triage.live.store.schema import (
    ApiToken,
    DecisionRecord,
    Role,
    User,
    WebSession,
    as_utc,
    utc_now,
)
from tweet_triage.live.store.views import SessionView, TokenView, UserView

TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
TOKEN_LIFETIME = timedelta(days=90)
USER_NAME_MAX = 64
_USER_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@-]{{0,{USER_NAME_MAX - 1}}}")


def check_user_name(name: str) -> str:
    """The name without surrounding spaces (as the login form reads it), or a clear error."""
    stripped = name.strip()
    if not stripped:
        raise InvalidUserNameError("a user name cannot be empty; choose a name such as maria")
    if not _USER_NAME.fullmatch(stripped):
        raise InvalidUserNameError(
            f"user name {stripped[:80]!r} is not allowed: use 1 to {USER_NAME_MAX} letters "
            "A-Z, digits and . _ @ - (starting with a letter or digit), e.g. maria.lopez"
        )
    return stripped


def as_role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise StoreError(
            f"role {value!r} is not one of {', '.join(r.value for r in Role)}"
        ) from None


class Accounts(Database):
    """Users, API tokens and web sessions."""

    def add_user(self, name: str, password_hash: str, role: str | Role | None = None) -> UserView:
        """Create an account; without a role the first account is the admin, later ones agents."""
        name = check_user_name(name)
        try:
            with self._session() as session:
                if role is None:
                    anyone = session.scalar(select(func.count()).select_from(User))
                    role = Role.AGENT if anyone else Role.ADMIN
                user = User(
                    name=name,
                    password_hash=password_hash,
                    created_at=utc_now(),
                    role=as_role(role).value,
                )
                session.add(user)
                session.flush()
                return user_view(user)
        except IntegrityError as exc:
            raise DuplicateUserError(
                f"user {name!r} already exists; choose another name or change its password "
                f"with `tweet-triage triage users add {name} --replace`"
            ) from exc

    def set_password_hash(self, name: str, password_hash: str) -> UserView:
        """A new password: every session of the user ends and every API token is revoked."""
        with self._session() as session:
            user = _user_named(session, name)
            user.password_hash = password_hash
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
            return user_view(user)

    def set_role(self, name: str, role: str | Role) -> UserView:
        role = as_role(role)
        with self._session() as session:
            user = _user_named(session, name)
            if role is not Role.ADMIN:
                _keep_an_admin(session, user, f"make {name} an {role.value}")
            user.role = role.value
            return user_view(user)

    def disable_user(self, name: str) -> UserView:
        """The user can no longer log in or use API tokens; their decisions stay theirs."""
        with self._session() as session:
            user = _user_named(session, name)
            _keep_an_admin(session, user, f"disable {name}")
            if user.disabled_at is None:
                user.disabled_at = utc_now()
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            return user_view(user)

    def enable_user(self, name: str) -> UserView:
        with self._session() as session:
            user = _user_named(session, name)
            user.disabled_at = None
            return user_view(user)

    def remove_user(self, name: str) -> None:
        """Delete an account that never decided (decisions keep who decided: disable those)."""
        with self._session() as session:
            user = _user_named(session, name)
            decided = session.scalar(select(func.count()).where(DecisionRecord.user_id == user.id))
            if decided:
                raise StoreError(
                    f"user {name!r} has {decided} decision(s), which keep who decided; disable "
                    f"the account instead with `tweet-triage triage users disable {name}`"
                )
            _keep_an_admin(session, user, f"remove {name}")
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
            session.delete(user)

    def user_by_name(self, name: str) -> UserView | None:
        """The user who may log in with this name: None when unknown or disabled."""
        with self._session() as session:
            user = session.scalar(select(User).where(User.name == name, User.disabled_at.is_(None)))
            return None if user is None else user_view(user)

    def users(self) -> list[UserView]:
        """Every account, disabled ones included."""
        with self._session() as session:
            return [user_view(u) for u in session.scalars(select(User).order_by(User.name))]

    def add_token(
        self, user_name: str, name: str, token_hash: str, expires_at: datetime | None = None
    ) -> int:
        """Store a new API token's digest; it expires after TOKEN_LIFETIME unless told."""
        now = utc_now()
        expires_at = now + TOKEN_LIFETIME if expires_at is None else as_utc(expires_at)
        if expires_at <= now:
            raise StoreError(
                f"an API token that expires at {expires_at:%Y-%m-%d %H:%M} UTC would never "
                "work; give an expiry in the future"
            )
        with self._session() as session:
            user = _user_named(session, user_name)
            if user.disabled_at is not None:
                raise StoreError(
                    f"user {user_name!r} is disabled; enable it first with "
                    f"`tweet-triage triage users enable {user_name}`"
                )
            token = ApiToken(
                user_id=user.id,
                name=name,
                token_hash=token_hash,
                created_at=now,
                expires_at=expires_at,
            )
            session.add(token)
            session.flush()
            return token.id

    def tokens(self) -> list[TokenView]:
        query = select(ApiToken, User.name).join(User).order_by(ApiToken.id)
        with self._session() as session:
            return [
                TokenView(t.id, user, t.name, t.created_at, t.last_used_at, t.expires_at)
                for t, user in session.execute(query)
            ]

    def revoke_token(self, token_id: int) -> bool:
        with self._session() as session:
            return bool(session.execute(delete(ApiToken).where(ApiToken.id == token_id)).rowcount)

    def user_for_token(self, token_hash: str) -> UserView | None:
        """The token's user (and the token's last use recorded), or None when the token is
        unknown, expired, or its user disabled."""
        now = utc_now()
        with self._session() as session:
            row = session.execute(
                select(ApiToken, User)
                .join(User)
                .where(
                    ApiToken.token_hash == token_hash,
                    ApiToken.expires_at > now,
                    User.disabled_at.is_(None),
                )
            ).first()
            if row is None:
                return None
            token, user = row
            if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION:
                token.last_used_at = now
            return user_view(user)

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
                    expires_at=as_utc(expires_at),
                )
            )

    def session_for(self, token_hash: str) -> SessionView | None:
        with self._session() as session:
            row = session.execute(
                select(WebSession, User)
                .join(User)
                .where(
                    WebSession.token_hash == token_hash,
                    WebSession.expires_at > utc_now(),
                    User.disabled_at.is_(None),
                )
            ).first()
            if row is None:
                return None
            web_session, user = row
            return SessionView(user_view(user), web_session.csrf_token, web_session.expires_at)

    def delete_session(self, token_hash: str) -> None:
        with self._session() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def user_view(row: User) -> UserView:
    return UserView(
        row.id, row.name, row.password_hash, row.created_at, Role(row.role), row.disabled_at
    )


def _user_named(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UnknownUserError(name)
    return user


def _keep_an_admin(session: Session, user: User, change: str) -> None:
    """Refuse a change that leaves no active admin (nobody could manage the accounts)."""
    if user.role != Role.ADMIN.value or user.disabled_at is not None:
        return
    others = session.scalar(
        select(func.count()).where(
            User.role == Role.ADMIN.value, User.disabled_at.is_(None), User.id != user.id
        )
    )
    if not others:
        raise LastAdminError(
            f"cannot {change}: {user.name} is the only active admin; make another user an "
            "admin first with `tweet-triage triage users role NAME admin`"
        )
