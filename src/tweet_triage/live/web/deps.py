"""What every route of the inbox depends on: its settings and store, who is asking, rendering.

Authentication, one FastAPI dependency per kind of caller:
- pages: a session cookie (HttpOnly, SameSite=Lax, Secure behind TLS) naming a server-side
  session; without one a page redirects to /login (`LoginRequired`). Every form carries the
  session's CSRF token, checked before anything changes: 403.
- /api/*: `Authorization: Bearer <token>` only (never the cookie, so no cross-site request
  can use a logged-in browser); without a valid token: 401.
- /metrics: a bearer token or a session.
- the team's reply and conversation calls (`/api/replies`, `/api/conversations`, presence):
  a bearer token, or the page's session with its CSRF token in `X-CSRF-Token` for a change
  (`team_user`), so the pages' scripts use them as they are.
- admin pages (X account, saved replies): a session whose user is an admin (`require_admin`,
  put on the admin router), 403 for an agent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Le
from anyio import CapacityLimiter
from fastapi import Depends, Form, Header, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates

from tweet_triage.config import Settings, TriageSettings, XAppSettings
from tweet_triage.live.replies.x_account import XAccount
from tweet_triage.live.replies.x_connection import TokenStore, x_account
from tweet_triage.live.store import SessionView, TriageStore, UserView, utc_now
from tweet_triage.live.web.charts import DashboardCharts
from tweet_triage.live.web.loop import LoopState
from tweet_triage.live.web.metrics import InboxMetrics
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import (
    LoginThrottle,
    PasswordChecks,
    same_secret,
    token_digest,
)
from tweet_triage.live.web.suggestions import Suggestions
from tweet_triage.live.web.x_link import PendingConnects, x_banner

WEB_DIR = Path(__file__).resolve().parent
SESSION_COOKIE = "tt_session"
# A row's id in a URL, form or body: what the databases' 64-bit integers hold (a larger one
# would fail in the database driver with a 500, not be an unknown id).
RowId = Annotated[int, Ge(1), Le(2**63 - 1)]
WINDOWS = {"1h": 1, "6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "all": None}
Window = Literal["1h", "6h", "24h", "7d", "30d", "all"]
Order = Literal["likely", "newest"]


def _setting(name: str, group: type[Any] = TriageSettings) -> Any:
    """A setting's default: InboxConfig's defaults are the settings', defined there once."""
    return group.model_fields[name].default


@dataclass
class InboxConfig:
    """What the app needs from the settings (kept small so tests can build one directly).

    Every default is the setting's, except `allowed_hosts`: any host, so that tests can call
    the app by any name (`from_settings` gives TRIAGE_ALLOWED_HOSTS).
    """

    secure_cookies: bool | None = _setting("triage_secure_cookies")
    session_hours: float = _setting("triage_session_hours")
    login_attempts: int = _setting("triage_login_attempts")
    login_window_seconds: float = _setting("triage_login_window_seconds")
    score_max_texts: int = _setting("triage_score_max_texts")
    max_body_bytes: int = 4 * 1024 * 1024  # the largest /api/score request, with room
    refresh_seconds: float = _setting("triage_refresh_seconds")
    request_threads: int = _setting("triage_request_threads")
    score_threads: int = _setting("triage_score_threads")
    reports_dir: Path | None = None
    state_dir: Path | None = None  # the closed loop's state (triage/loop.json)
    trusted_proxies: tuple[str, ...] = ()  # TRIAGE_TRUSTED_PROXIES: none by default
    allowed_hosts: tuple[str, ...] = ("*",)
    reply_window_minutes: float = _setting("triage_reply_window_minutes", XAppSettings)
    sla_minutes: float = _setting("triage_sla_minutes", XAppSettings)
    x_redirect_uri: str = _setting("x_redirect_uri", XAppSettings)  # the inbox's /x/callback
    # Builds the team's X account over the store's token slot (`x_connection.x_account`);
    # None: no X app (its error says what to set).
    x_account: Callable[[TokenStore], XAccount] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxConfig:
        return cls(
            secure_cookies=settings.triage_secure_cookies,
            session_hours=settings.triage_session_hours,
            login_attempts=settings.triage_login_attempts,
            login_window_seconds=settings.triage_login_window_seconds,
            score_max_texts=settings.triage_score_max_texts,
            refresh_seconds=settings.triage_refresh_seconds,
            request_threads=settings.triage_request_threads,
            score_threads=settings.triage_score_threads,
            reports_dir=settings.reports_dir,
            state_dir=settings.state_dir,
            trusted_proxies=_names(settings.triage_trusted_proxies),
            allowed_hosts=_names(settings.triage_allowed_hosts),
            reply_window_minutes=settings.triage_reply_window_minutes,
            sla_minutes=settings.triage_sla_minutes,
            x_redirect_uri=settings.x_redirect_uri,
            x_account=lambda store: x_account(settings, store),
        )


def _names(setting: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in setting.split(",") if name.strip())


@dataclass
class Inbox:
    """Everything the routes share, kept on `app.state.inbox`."""

    store: TriageStore
    model: ModelProvider
    config: InboxConfig
    throttle: LoginThrottle
    password_checks: PasswordChecks
    secret: bytes  # signs what browsers carry back (login CSRF pair, device cookies)
    metrics: InboxMetrics
    templates: Jinja2Templates
    read_loop: Callable[[], LoopState]  # the learning loop's state, read when shown
    suggestions: Suggestions
    x_account: XAccount | None  # None: no X app configured (`x_problem` says why)
    # /api/score's own threads (TRIAGE_SCORE_THREADS): a request waiting on the model holds
    # one of these, not one of the pages' (TRIAGE_REQUEST_THREADS).
    score_lane: CapacityLimiter
    x_problem: str | None = None
    connects: PendingConnects = field(default_factory=PendingConnects)
    charts: DashboardCharts = field(default_factory=DashboardCharts)
    assets: dict[str, str] = field(default_factory=dict)


class LoginRequired(Exception):
    """A page was asked for without a live session: the app answers with the login page."""


def get_inbox(request: Request) -> Inbox:
    return request.app.state.inbox


def get_store(request: Request) -> TriageStore:
    return get_inbox(request).store


InboxDep = Annotated[Inbox, Depends(get_inbox)]
StoreDep = Annotated[TriageStore, Depends(get_store)]


def known_session(request: Request) -> SessionView | None:
    """The browser's live session, if it has one (kept on the request for the page)."""
    if getattr(request.state, "session", None) is None:
        token = request.cookies.get(SESSION_COOKIE)
        found = get_store(request).session_for(token_digest(token)) if token else None
        request.state.session = found
        request.state.user = found.user if found else None
    return request.state.session


def current_session(request: Request) -> SessionView:
    """The logged-in browser session, else a redirect to the login page."""
    found = known_session(request)
    if found is None:
        raise LoginRequired
    return found


SessionDep = Annotated[SessionView, Depends(current_session)]


def checked_csrf(
    session: SessionDep, csrf_token: Annotated[str | None, Form()] = None
) -> SessionView:
    """The session, once the form's CSRF token matches it (403 otherwise)."""
    if not same_secret(csrf_token, session.csrf_token):
        raise HTTPException(403, "missing or wrong CSRF token; reload the page and try again")
    return session


CsrfSessionDep = Annotated[SessionView, Depends(checked_csrf)]
bearer = HTTPBearer(auto_error=False)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def api_user(store: StoreDep, credentials: BearerDep) -> UserView:
    """The user of the request's API token (401 without a valid one)."""
    user = store.user_for_token(token_digest(credentials.credentials)) if credentials else None
    if user is None:
        raise HTTPException(
            401,
            "an API token is required: Authorization: Bearer <token> "
            "(create one with `tweet-triage triage tokens create USER`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


ApiUserDep = Annotated[UserView, Depends(api_user)]


def any_user(request: Request, store: StoreDep, credentials: BearerDep) -> UserView:
    """An API token's user, else a session's (for /metrics, scraped or looked at)."""
    if credentials is not None:
        return api_user(store, credentials)
    found = known_session(request)
    if found is None:
        raise HTTPException(401, "log in or send an API token", {"WWW-Authenticate": "Bearer"})
    return found.user


AnyUserDep = Annotated[UserView, Depends(any_user)]


def team_user(
    request: Request,
    store: StoreDep,
    credentials: BearerDep,
    x_csrf_token: Annotated[str | None, Header()] = None,
) -> UserView:
    """An API token's user, else the page's session's; a session's change (any method but
    GET) needs the session's CSRF token in `X-CSRF-Token` (403 otherwise)."""
    if credentials is not None:
        return api_user(store, credentials)
    found = known_session(request)
    if found is None:
        raise HTTPException(401, "log in or send an API token", {"WWW-Authenticate": "Bearer"})
    if request.method not in ("GET", "HEAD") and not same_secret(x_csrf_token, found.csrf_token):
        raise HTTPException(403, "missing or wrong X-CSRF-Token; reload the page and try again")
    return found.user


TeamUserDep = Annotated[UserView, Depends(team_user)]


def require_admin(session: SessionDep) -> SessionView:
    """The session of an admin; an agent gets 403 (admins manage the X account and the
    saved replies)."""
    if not session.user.is_admin:
        raise HTTPException(
            403, f"{session.user.name} is an agent: this page is for admins (ask one)"
        )
    return session


def window_start(window: str) -> datetime | None:
    """When a named window (`WINDOWS`) starts; None for any time."""
    hours = WINDOWS.get(window)
    return None if hours is None else utc_now() - timedelta(hours=hours)


def ago(value: datetime | None) -> str:
    """How long ago, in the largest whole unit ("3 min ago")."""
    if value is None:
        return ""
    seconds = max(0, int((utc_now() - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page of the inbox: the template with the page's nonce, assets, user and CSRF token."""
    box = get_inbox(request)
    session = getattr(request.state, "session", None)
    return box.templates.TemplateResponse(
        request,
        template,
        {
            "nonce": request.state.nonce,
            "css": box.assets["inbox.css"],
            "js": box.assets["inbox.js"],
            "user": getattr(request.state, "user", None),
            "csrf_token": session.csrf_token if session else None,
            "refresh_ms": int(box.config.refresh_seconds * 1000),
            "x_banner": x_banner(box.x_account, box.x_problem) if session else None,
            "sla_minutes": box.config.sla_minutes,
            "sla_cutoff": utc_now() - timedelta(minutes=box.config.sla_minutes),
            **context,
        },
        status_code=status_code,
    )


def is_secure(request: Request, config: InboxConfig) -> bool:
    """Whether cookies get the Secure flag: the setting, else whether the request came by TLS."""
    if config.secure_cookies is not None:
        return config.secure_cookies
    return request.url.scheme == "https"


def safe_next(target: str | None) -> str:
    """Only paths on this site: never `//host` or a full URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
