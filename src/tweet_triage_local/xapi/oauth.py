"""X's OAuth 2.0 authorization server, as the stand-in plays it: Authorization Code with PKCE.

What X does and the stand-in checks:
- `GET /2/oauth2/authorize` needs `response_type=code`, the app's `client_id`, a registered
  `redirect_uri`, `scope`, `state` and a PKCE `code_challenge` (`S256` or `plain`); the person
  approves on a page, and X redirects to `redirect_uri?state=...&code=...` (or
  `error=access_denied`). A bad client or redirect URI is answered on the page, never by a
  redirect (RFC 6749 4.1.2.1).
- `POST /2/oauth2/token` (form-encoded): `authorization_code` with the `code_verifier` that
  matches the challenge, the same `redirect_uri`, used once and within 30 s; `refresh_token`
  (only when `offline.access` was granted) rotates the refresh token, as X does. Access tokens
  live 2 hours (`expires_in` 7200). A confidential client authenticates with HTTP Basic; a
  public client sends `client_id` in the form.
- `POST /2/oauth2/revoke` revokes an access or refresh token.

The stand-in keeps only SHA-256 digests of the tokens it issued, in `<state>/xapi-oauth.json`,
so a restarted stand-in still honours them, like X. `expire_now()` and `revoke_all()` are its
controls for tests of refresh and of a revoked account.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from tweet_triage_local.xapi.state import StateFiles

_SCOPE_NAMES = (
    "tweet.read tweet.write tweet.moderate.write users.read follows.read follows.write "
    "offline.access space.read mute.read mute.write like.read like.write list.read list.write "
    "block.read block.write bookmark.read bookmark.write"
)
SCOPES = frozenset(_SCOPE_NAMES.split())
ACCESS_TOKEN_SECONDS = 7200
CODE_SECONDS = 30
OAUTH_FILE = "xapi-oauth.json"


@dataclass(frozen=True)
class Account:
    """The X user who approves the app: the mission's account."""

    id: str = "1468977406716145665"
    username: str = "WebbTriageDemo"
    name: str = "Tweet Triage Demo"

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "username": self.username, "name": self.name}


@dataclass(frozen=True)
class OAuthClient:
    """The X app: its client id, its secret for a confidential client, its callback URLs."""

    client_id: str
    client_secret: str | None = None
    redirect_uris: tuple[str, ...] = ()

    def allows(self, redirect_uri: str) -> bool:
        """A registered callback; with none registered, any loopback URL (local use)."""
        if self.redirect_uris:
            return redirect_uri in self.redirect_uris
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and parts.hostname in ("127.0.0.1", "localhost")


class OAuthProblem(Exception):
    """An OAuth error as X answers it: `{"error": ..., "error_description": ...}`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class PendingApproval:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    challenge: str
    method: str


@dataclass
class _Code:
    approval: PendingApproval
    issued: float


@dataclass
class Grant:
    """Who a valid access token acts for, with which scopes."""

    account: Account
    scopes: frozenset[str]
    expires: float


@dataclass
class _Issued:
    access: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636's S256 challenge of a verifier (base64url, no padding)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class AuthorizationServer:
    """Issues, refreshes, revokes and checks user-context tokens for one app and one account."""

    def __init__(
        self,
        client: OAuthClient,
        files: StateFiles,
        *,
        account: Account | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.account = account or Account()
        self.files = files
        self.clock = clock
        self.lock = threading.Lock()
        self._pending: dict[str, PendingApproval] = {}
        self._codes: dict[str, _Code] = {}
        self._issued = self._load()

    # --- authorize ------------------------------------------------------------------------
    def begin(self, query: Mapping[str, str]) -> str:
        """Check an authorize request; the id of the approval the page shows."""
        if query.get("response_type") != "code":
            raise OAuthProblem("unsupported_response_type", "response_type must be code")
        if query.get("client_id") != self.client.client_id:
            raise OAuthProblem(
                "invalid_client", f"client_id {query.get('client_id')!r} is not this app's"
            )
        redirect_uri = query.get("redirect_uri", "")
        if not self.client.allows(redirect_uri):
            raise OAuthProblem(
                "invalid_request",
                f"redirect_uri {redirect_uri!r} is not a callback URL registered for the app",
            )
        scopes = tuple(query.get("scope", "").split())
        unknown = sorted(set(scopes) - SCOPES)
        if not scopes or unknown:
            raise OAuthProblem("invalid_scope", f"unknown or missing scope(s): {unknown or '-'}")
        if not query.get("state"):
            raise OAuthProblem("invalid_request", "state is required")
        method = query.get("code_challenge_method", "plain")
        if not query.get("code_challenge") or method not in ("S256", "plain"):
            raise OAuthProblem(
                "invalid_request", "a code_challenge with code_challenge_method S256 or plain"
            )
        approval = PendingApproval(
            self.client.client_id,
            redirect_uri,
            scopes,
            query["state"],
            query["code_challenge"],
            method,
        )
        approval_id = secrets.token_urlsafe(16)
        with self.lock:
            self._pending[approval_id] = approval
        return approval_id

    def pending(self, approval_id: str) -> PendingApproval | None:
        with self.lock:
            return self._pending.get(approval_id)

    def decide(self, approval_id: str, approve: bool) -> str:
        """The redirect URL after the person approved or cancelled."""
        with self.lock:
            approval = self._pending.pop(approval_id, None)
            if approval is None:
                raise OAuthProblem("invalid_request", "this authorization request has expired")
            if not approve:
                params = {"error": "access_denied", "state": approval.state}
            else:
                code = secrets.token_urlsafe(32)
                self._codes[code] = _Code(approval, self.clock())
                params = {"state": approval.state, "code": code}
        separator = "&" if "?" in approval.redirect_uri else "?"
        return f"{approval.redirect_uri}{separator}{urlencode(params)}"

    # --- token ----------------------------------------------------------------------------
    def token(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """The token endpoint: exchange a code, or refresh."""
        self._authenticate_client(form, basic)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange(form)
        if grant_type == "refresh_token":
            return self._refresh(form.get("refresh_token", ""))
        raise OAuthProblem("unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

    def _authenticate_client(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> None:
        if self.client.client_secret is not None:
            if basic is None:
                raise OAuthProblem(
                    "invalid_client", "a confidential client authenticates with HTTP Basic", 401
                )
            client_id, secret = basic
            if client_id != self.client.client_id or not hmac.compare_digest(
                secret, self.client.client_secret
            ):
                raise OAuthProblem("invalid_client", "client authentication failed", 401)
            return
        client_id = basic[0] if basic else form.get("client_id")
        if client_id != self.client.client_id:
            raise OAuthProblem("invalid_client", "client_id is missing or not this app's", 401)

    def _exchange(self, form: Mapping[str, str]) -> dict[str, Any]:
        with self.lock:
            issued = self._codes.pop(form.get("code", ""), None)
            if issued is None or self.clock() - issued.issued > CODE_SECONDS:
                raise OAuthProblem(
                    "invalid_request", "Value passed for the authorization code was invalid."
                )
            approval = issued.approval
            if form.get("redirect_uri") != approval.redirect_uri:
                raise OAuthProblem("invalid_request", "redirect_uri does not match the request")
            verifier = form.get("code_verifier", "")
            expected = pkce_challenge(verifier) if approval.method == "S256" else verifier
            if not verifier or not hmac.compare_digest(expected, approval.challenge):
                raise OAuthProblem("invalid_request", "code_verifier does not match the challenge")
            return self._issue(frozenset(approval.scopes))

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        with self.lock:
            stored = self._issued.refresh.pop(_digest(refresh_token), None)
            if stored is None:
                raise OAuthProblem("invalid_request", "Value passed for the token was invalid.")
            return self._issue(frozenset(stored["scopes"]))

    def _issue(self, scopes: frozenset[str]) -> dict[str, Any]:
        access = secrets.token_urlsafe(48)
        expires = self.clock() + ACCESS_TOKEN_SECONDS
        self._issued.access[_digest(access)] = {"scopes": sorted(scopes), "expires": expires}
        body: dict[str, Any] = {
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "access_token": access,
            "scope": " ".join(sorted(scopes)),
        }
        if "offline.access" in scopes:
            refresh = secrets.token_urlsafe(48)
            self._issued.refresh[_digest(refresh)] = {"scopes": sorted(scopes)}
            body["refresh_token"] = refresh
        self._save()
        return body

    def revoke(self, token: str) -> bool:
        with self.lock:
            digest = _digest(token)
            found = bool(
                self._issued.access.pop(digest, None) or self._issued.refresh.pop(digest, None)
            )
            self._save()
            return found

    # --- checks and controls --------------------------------------------------------------
    def grant_for(self, access_token: str) -> Grant | None:
        """The grant of a valid, unexpired access token; None otherwise."""
        with self.lock:
            stored = self._issued.access.get(_digest(access_token))
        if stored is None or stored["expires"] <= self.clock():
            return None
        return Grant(self.account, frozenset(stored["scopes"]), stored["expires"])

    def expire_now(self) -> int:
        """Every access token expires (refresh tokens stay): tests of refreshing."""
        with self.lock:
            for stored in self._issued.access.values():
                stored["expires"] = self.clock() - 1
            self._save()
            return len(self._issued.access)

    def revoke_all(self) -> int:
        """Every token is revoked, as when the person removes the app on X."""
        with self.lock:
            count = len(self._issued.access) + len(self._issued.refresh)
            self._issued = _Issued()
            self._save()
            return count

    def _load(self) -> _Issued:
        saved = self.files.read(OAUTH_FILE) or {}
        return _Issued(dict(saved.get("access", {})), dict(saved.get("refresh", {})))

    def _save(self) -> None:
        saved = {"access": self._issued.access, "refresh": self._issued.refresh}
        self.files.write(OAUTH_FILE, saved)
