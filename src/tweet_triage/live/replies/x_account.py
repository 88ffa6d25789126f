"""The mission's X account, connected once by an admin: OAuth 2.0 Authorization Code with PKCE
through authlib, tokens encrypted at rest, refreshed before they expire.

authlib's `OAuth2Session` does the protocol (PKCE S256, the state check, the token and refresh
requests, RFC 6749's error handling); tweepy's `OAuth2UserHandler` covers the same flow but
hides the code verifier inside one object, so a headless connect that prints the URL in one
command and takes the redirect back in another cannot resume it, and it has no refresh helper.

Tokens are sealed with Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) before they
reach the store; the key is a setting or a 0600 key file, never the store. The store keeps
only the sealed bytes (`TokenSlot`), so a copy of the database alone reveals nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import MismatchingStateException
from cryptography.fernet import Fernet, InvalidToken

from tweet_triage.errors import TriageError
from tweet_triage.private_files import write_private

SCOPES = ("tweet.read", "tweet.write", "users.read", "offline.access")
REFRESH_MARGIN_SECONDS = 300  # refresh this long before X's two-hour expiry


class XAccountError(TriageError):
    """The X account cannot be connected or used; the message says why and what to do."""


class TokenSlot(Protocol):
    """Where the sealed tokens live (the triage store); bytes in, bytes out."""

    def read(self) -> bytes | None: ...

    def write(self, sealed: bytes) -> None: ...

    def clear(self) -> None:
        """Forget the tokens (the account was disconnected)."""


def load_or_create_key(path: Path) -> bytes:
    """The Fernet key in a 0600 file, created on first use. Services starting together (the
    inbox and the outbox worker) all end up with the one key: the first to create it wins."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            write_private(path, key.decode(), exclusive=True)
            return key
        except FileExistsError:
            pass  # another process made it first: use theirs
    if path.stat().st_mode & 0o077:
        raise XAccountError(
            f"{path} can be read by other users: run `chmod 600 {path}` (it decrypts the "
            "X account's tokens)"
        )
    return path.read_bytes().strip()


class ConnectionState(StrEnum):
    NOT_CONNECTED = "not_connected"
    CONNECTED = "connected"
    EXPIRED = "expired"  # the access token lapsed and could not be refreshed yet
    REVOKED = "revoked"  # X refused the refresh token: an admin must connect again


@dataclass(frozen=True)
class AccountTokens:
    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: str
    account_id: str
    username: str
    state: ConnectionState = ConnectionState.CONNECTED


@dataclass(frozen=True)
class PendingConnect:
    """What the second half of a headless connect needs: keep it between the two commands."""

    authorize_url: str
    state: str
    code_verifier: str
    redirect_uri: str


@dataclass(frozen=True)
class XOAuthEndpoints:
    authorize_url: str  # X: https://x.com/i/oauth2/authorize
    token_url: str  # X: https://api.x.com/2/oauth2/token
    api_base_url: str  # X: https://api.x.com


class XAccount:
    """Connect, keep fresh and describe the one account the team answers as."""

    def __init__(
        self,
        endpoints: XOAuthEndpoints,
        client_id: str,
        client_secret: str | None,
        slot: TokenSlot,
        key: bytes,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.endpoints = endpoints
        self.client_id = client_id
        self.client_secret = client_secret
        self.slot = slot
        self.fernet = Fernet(key)
        self.clock = clock

    def _session(self, **kwargs: Any) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.client_secret,
            scope=" ".join(SCOPES),
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.client_secret else "none",
            **kwargs,
        )

    # --- connect --------------------------------------------------------------------------
    def begin_connect(self, redirect_uri: str) -> PendingConnect:
        verifier = secrets.token_urlsafe(64)
        url, state = self._session(redirect_uri=redirect_uri).create_authorization_url(
            self.endpoints.authorize_url, code_verifier=verifier
        )
        return PendingConnect(url, state, verifier, redirect_uri)

    def finish_connect(self, pending: PendingConnect, redirect_response: str) -> AccountTokens:
        """Exchange the code X sent to the callback (the whole redirect URL) for tokens."""
        session = self._session(redirect_uri=pending.redirect_uri, state=pending.state)
        try:
            token = session.fetch_token(
                self.endpoints.token_url,
                authorization_response=redirect_response,
                code_verifier=pending.code_verifier,
            )
        except OAuthError as exc:
            raise XAccountError(
                f"X refused the connection ({exc.error}: {exc.description}); start again with "
                "`tweet-triage triage x connect`"
            ) from exc
        except (MismatchingStateException, ValueError) as exc:
            raise XAccountError(
                f"the redirect URL does not answer this connect request ({exc}); paste the whole "
                "URL the browser was sent to, from the same connect"
            ) from exc
        me = session.get(f"{self.endpoints.api_base_url}/2/users/me")
        if me.status_code != 200:
            raise XAccountError(f"X did not say which account approved ({me.status_code})")
        user = me.json()["data"]
        tokens = self._tokens(dict(token), user["id"], user["username"])
        self._save(tokens)
        return tokens

    # --- use ------------------------------------------------------------------------------
    def tokens(self) -> AccountTokens | None:
        sealed = self.slot.read()
        if sealed is None:
            return None
        try:
            stored = json.loads(self.fernet.decrypt(sealed))
        except InvalidToken as exc:
            raise XAccountError(
                "the stored X tokens cannot be decrypted with this key (the key file or "
                "X_TOKEN_KEY changed): connect the account again"
            ) from exc
        return AccountTokens(**{**stored, "state": ConnectionState(stored["state"])})

    def state(self) -> ConnectionState:
        tokens = self.tokens()
        if tokens is None:
            return ConnectionState.NOT_CONNECTED
        if tokens.state is ConnectionState.REVOKED:
            return tokens.state
        if tokens.expires_at <= self.clock() and not tokens.refresh_token:
            return ConnectionState.EXPIRED
        return tokens.state

    def access_token(self) -> str | None:
        """A valid access token, refreshed first when it expires within the margin; None when
        no account is connected or X refused the refresh (the inbox shows a banner)."""
        tokens = self.tokens()
        if tokens is None or tokens.state is ConnectionState.REVOKED:
            return None
        if tokens.expires_at - self.clock() > REFRESH_MARGIN_SECONDS:
            return tokens.access_token
        if not tokens.refresh_token:
            return tokens.access_token if tokens.expires_at > self.clock() else None
        try:
            token = self._session().refresh_token(
                self.endpoints.token_url, refresh_token=tokens.refresh_token
            )
        except OAuthError:
            self._save(AccountTokens(**{**asdict(tokens), "state": ConnectionState.REVOKED}))
            return None
        refreshed = self._tokens(dict(token), tokens.account_id, tokens.username)
        self._save(refreshed)
        return refreshed.access_token

    def _tokens(self, token: dict[str, Any], account_id: str, username: str) -> AccountTokens:
        if "expires_in" in token:
            expires_at = self.clock() + float(token["expires_in"])
        else:
            expires_at = float(token["expires_at"])
        return AccountTokens(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            expires_at=expires_at,
            scope=str(token.get("scope", "")),
            account_id=account_id,
            username=username,
        )

    def _save(self, tokens: AccountTokens) -> None:
        self.slot.write(self.fernet.encrypt(json.dumps(asdict(tokens)).encode()))
