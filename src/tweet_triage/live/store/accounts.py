"""Accounts: inbox users, their API tokens and their browser sessions.

Secrets never reach the store in clear: passwords arrive argon2-hashed, API tokens and
session tokens as SHA-256 digests (see `web.security`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import DuplicateUserError, UnknownUserError
from tweet_triage.live.store.schema import ApiToken, User, WebSession, as_utc, utc_now
from tweet_triage.live.store.views import SessionView, TokenView, UserView

TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often


class Accounts(Database):
    """Users, API tokens and web sessions."""

    def add_user(self, name: str, password_hash: str) -> UserView:
        try:
            with self._session() as session:
                user = User(name=name, password_hash=password_hash, created_at=utc_now())
                session.add(user)
                session.flush()
                return user_view(user)
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
            return user_view(user)

    def user_by_name(self, name: str) -> UserView | None:
        with self._session() as session:
            user = session.scalar(select(User).where(User.name == name))
            return None if user is None else user_view(user)

    def users(self) -> list[UserView]:
        with self._session() as session:
            return [user_view(u) for u in session.scalars(select(User).order_by(User.name))]

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
                .where(WebSession.token_hash == token_hash, WebSession.expires_at > utc_now())
            ).first()
            if row is None:
                return None
            web_session, user = row
            return SessionView(user_view(user), web_session.csrf_token, web_session.expires_at)

    def delete_session(self, token_hash: str) -> None:
        with self._session() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash))


def user_view(row: User) -> UserView:
    return UserView(row.id, row.name, row.password_hash, row.created_at)
