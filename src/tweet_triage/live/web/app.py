"""The inbox: FastAPI app with server-rendered pages, a JSON API, /healthz and /metrics.

Authentication (FastAPI dependencies, one per kind of caller):
- pages: a session cookie (HttpOnly, SameSite=Lax, Secure behind TLS) naming a server-side
  session; without one a page redirects to /login. Every form carries the session's CSRF
  token (the login form a double-submit cookie's), checked before anything changes: 403.
- /api/*: `Authorization: Bearer <token>` only (never the cookie, so no cross-site request
  can use a logged-in browser); without a valid token: 401.
- /metrics: a bearer token or a session. /healthz: nobody needs to log in.
Every response carries a Content-Security-Policy that allows only this page's own inline
script and style (by nonce), so nothing is loaded from anywhere else.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from tweet_triage.live.store import (
    DECISIONS,
    DatabaseUnavailableError,
    SessionView,
    TriageStore,
    UnknownTweetError,
    UserView,
    utc_now,
)
from tweet_triage.live.web import charts
from tweet_triage.live.web.metrics import InboxMetrics
from tweet_triage.live.web.scoring import ModelProvider, ModelUnavailableError
from tweet_triage.live.web.security import (
    LoginThrottle,
    new_secret,
    same_secret,
    token_digest,
    verify_password,
)

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
SESSION_COOKIE = "tt_session"
LOGIN_CSRF_COOKIE = "tt_login_csrf"
WINDOWS = {"1h": 1, "6h": 6, "24h": 24, "7d": 24 * 7, "30d": 24 * 30, "all": None}
MAX_TEXT_CHARS = 10_000
DECISION_LABELS = {"handled": "handled", "not_for_us": "not for us", "needed_us": "needed us"}


@dataclass
class InboxConfig:
    """What the app needs from the settings (kept small so tests can build one directly)."""

    secure_cookies: bool | None = None
    session_hours: float = 12.0
    login_attempts: int = 5
    login_window_seconds: float = 300.0
    score_max_texts: int = 256
    refresh_seconds: float = 5.0
    reports_dir: Path | None = None
    state_dir: Path | None = None  # the closed loop's state (triage/loop.json)

    @classmethod
    def from_settings(cls, settings: Any) -> InboxConfig:
        return cls(
            secure_cookies=settings.triage_secure_cookies,
            session_hours=settings.triage_session_hours,
            login_attempts=settings.triage_login_attempts,
            login_window_seconds=settings.triage_login_window_seconds,
            score_max_texts=settings.triage_score_max_texts,
            refresh_seconds=settings.triage_refresh_seconds,
            reports_dir=settings.reports_dir,
            state_dir=settings.state_dir,
        )


@dataclass
class Inbox:
    """Everything the routes share, kept on `app.state.inbox`."""

    store: TriageStore
    model: ModelProvider
    config: InboxConfig
    throttle: LoginThrottle
    metrics: InboxMetrics
    templates: Jinja2Templates
    assets: dict[str, str] = field(default_factory=dict)


def create_app(store: TriageStore, model: ModelProvider, config: InboxConfig) -> FastAPI:
    """The inbox app over a migrated store."""
    app = FastAPI(
        title="tweet-triage inbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # nothing but /healthz answers without logging in
    )
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.filters["ago"] = _ago
    templates.env.filters["utc"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else ""
    templates.env.globals["decision_labels"] = DECISION_LABELS
    app.state.inbox = Inbox(
        store=store,
        model=model,
        config=config,
        throttle=LoginThrottle(config.login_attempts, config.login_window_seconds),
        metrics=InboxMetrics(store, model),
        templates=templates,
        assets={
            name: (WEB_DIR / "static" / name).read_text() for name in ("inbox.css", "inbox.js")
        },
    )
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(LoginRequired, _redirect_to_login)
    app.add_exception_handler(DatabaseUnavailableError, _database_unavailable)
    app.include_router(public)
    app.include_router(pages)
    app.include_router(api)
    from tweet_triage.live.web.labelling import router as labelling  # it imports this module

    app.include_router(labelling)
    return app


# --- cross-cutting ----------------------------------------------------------------------------


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        request.state.nonce = secrets.token_urlsafe(16)
        response = await call_next(request)
        nonce = request.state.nonce
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response


class LoginRequired(Exception):
    pass


def _redirect_to_login(request: Request, _exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.error("%s", exc)
    return JSONResponse({"detail": "the triage database is unavailable; retry"}, 503)


def inbox(request: Request) -> Inbox:
    return request.app.state.inbox


def store_dep(request: Request) -> TriageStore:
    return inbox(request).store


InboxDep = Annotated[Inbox, Depends(inbox)]
StoreDep = Annotated[TriageStore, Depends(store_dep)]


def current_session(request: Request, store: StoreDep) -> SessionView:
    """The logged-in browser session, else a redirect to the login page."""
    token = request.cookies.get(SESSION_COOKIE)
    found = store.session_for(token_digest(token)) if token else None
    if found is None:
        raise LoginRequired
    request.state.user = found.user
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


def api_user(
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> UserView:
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


def any_user(
    request: Request,
    store: StoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> UserView:
    if credentials is not None:
        return api_user(store, credentials)
    token = request.cookies.get(SESSION_COOKIE)
    found = store.session_for(token_digest(token)) if token else None
    if found is None:
        raise HTTPException(401, "log in or send an API token", {"WWW-Authenticate": "Bearer"})
    return found.user


def _since(window: str) -> datetime | None:
    hours = WINDOWS.get(window)
    return None if hours is None else utc_now() - timedelta(hours=hours)


def _ago(value: datetime | None) -> str:
    if value is None:
        return ""
    seconds = max(0, int((utc_now() - value).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    box = inbox(request)
    return box.templates.TemplateResponse(
        request,
        template,
        {
            "nonce": request.state.nonce,
            "css": box.assets["inbox.css"],
            "js": box.assets["inbox.js"],
            "user": getattr(request.state, "user", None),
            "refresh_ms": int(box.config.refresh_seconds * 1000),
            **context,
        },
        status_code=status_code,
    )


def _is_secure(request: Request, config: InboxConfig) -> bool:
    if config.secure_cookies is not None:
        return config.secure_cookies
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only paths on this site: never `//host` or a full URL (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --- public: /healthz, /login ------------------------------------------------------------------

public = APIRouter()


@public.get("/healthz", include_in_schema=False)
def healthz(store: StoreDep) -> Response:
    try:
        store.schema_revision()
    except Exception as exc:  # any database failure means "not healthy", with its reason
        log.error("healthz: the database does not answer: %s", exc)
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


@public.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return _login_form(request, next, None, 200)


def _login_form(request: Request, target: str, error: str | None, status: int) -> Response:
    box = inbox(request)
    csrf = new_secret()
    response = _render(
        request,
        "login.html",
        {"csrf_token": csrf, "next": _safe_next(target), "error": error},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_is_secure(request, box.config),
    )
    return response


@public.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    box = inbox(request)
    if not same_secret(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise HTTPException(403, "missing or wrong CSRF token; reload the login page")
    client = request.client.host if request.client else "unknown"
    key = (client, username.strip().lower())
    wait = box.throttle.retry_after(key)
    if wait > 0:
        response = _login_form(
            request, next, f"Too many failed logins; try again in {math.ceil(wait)} s.", 429
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = box.store.user_by_name(username.strip())
    if not verify_password(user.password_hash if user else None, password) or user is None:
        box.throttle.failed(key)
        log.warning("failed login from %s", client)
        return _login_form(request, next, "Wrong user name or password.", 401)
    box.throttle.succeeded(key)
    token = new_secret()
    expires = utc_now() + timedelta(hours=box.config.session_hours)
    box.store.add_session(token_digest(token), user.id, new_secret(), expires)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(box.config.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_is_secure(request, box.config),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


# --- pages ---------------------------------------------------------------------------------------

pages = APIRouter()
Order = Literal["likely", "newest"]
Window = Literal["1h", "6h", "24h", "7d", "30d", "all"]


@pages.post("/logout")
def logout(request: Request, session: CsrfSessionDep, store: StoreDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        store.delete_session(token_digest(token))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _queue_context(
    store: TriageStore, order: str, tag: str | None, window: str, limit: int = 100
) -> dict[str, Any]:
    tweets = store.queue(order=order, tag=tag or None, since=_since(window), limit=limit)  # type: ignore[arg-type]
    return {"tweets": tweets, "queue_size": store.queue_size(), "shown": len(tweets)}


@pages.get("/", response_class=HTMLResponse)
def queue_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    order: Order = "likely",
    tag: str = "",
    window: Window = "all",
) -> Response:
    return _render(
        request,
        "queue.html",
        {
            "csrf_token": session.csrf_token,
            "order": order,
            "tag": tag,
            "window": window,
            "windows": list(WINDOWS),
            "tags": store.rule_tags(),
            "fragment_url": "/fragments/queue?"
            + urlencode({"order": order, "tag": tag, "window": window}),
            **_queue_context(store, order, tag, window),
        },
    )


@pages.get("/fragments/queue", response_class=HTMLResponse)
def queue_fragment(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    order: Order = "likely",
    tag: str = "",
    window: Window = "all",
) -> Response:
    return _render(
        request,
        "_queue_rows.html",
        {"csrf_token": session.csrf_token, **_queue_context(store, order, tag, window)},
    )


@pages.get("/tweets", response_class=HTMLResponse)
def tweets_page(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    flagged: Literal["all", "yes", "no"] = "all",
    tag: str = "",
    window: Window = "24h",
) -> Response:
    flag = {"all": None, "yes": True, "no": False}[flagged]
    tweets = store.tweets(flagged=flag, tag=tag or None, since=_since(window), limit=300)
    return _render(
        request,
        "tweets.html",
        {
            "csrf_token": session.csrf_token,
            "tweets": tweets,
            "flagged": flagged,
            "tag": tag,
            "window": window,
            "windows": list(WINDOWS),
            "tags": store.rule_tags(),
        },
    )


@pages.post("/decisions")
def decide_from_form(
    request: Request,
    session: CsrfSessionDep,
    box: InboxDep,
    tweet_id: Annotated[str, Form(max_length=32)],
    decision: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    if decision not in DECISIONS:
        raise HTTPException(422, f"decision must be one of {', '.join(DECISIONS)}")
    try:
        recorded = box.store.decide(tweet_id, session.user.id, decision)
    except UnknownTweetError as exc:
        raise HTTPException(404, str(exc)) from exc
    box.metrics.decided(box.store, tweet_id, recorded.decided_at)
    if request.headers.get("accept", "").startswith("application/json"):
        return JSONResponse(_decision_json(recorded))
    return RedirectResponse(_safe_next(next), status_code=303)


@pages.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(
    request: Request, session: SessionDep, box: InboxDep, window: Window = "24h"
) -> Response:
    since = _since(window) or datetime(1970, 1, 1, tzinfo=UTC)
    stats = box.store.dashboard(since)
    return _render(
        request,
        "dashboard.html",
        {
            "csrf_token": session.csrf_token,
            "stats": stats,
            "window": window,
            "windows": list(WINDOWS),
            "volume_svg": charts.hourly_volume(stats.hours),
            "share_svg": charts.hourly_share(stats.hours),
            "tags_svg": charts.by_tag(stats.tags),
            "median_decision": _duration(stats.median_decision_seconds),
            "serving_version": box.model.version,
            "drift": read_drift_status(box.config.reports_dir),
            "loop": _loop_card(box),
        },
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "no decisions yet"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def read_drift_status(reports_dir: Path | None) -> dict[str, Any]:
    """The last drift check's verdict (reports/trends.json written by the trends report)."""
    if reports_dir is None:  # never the working directory's reports/
        return {"state": "unknown", "detail": "no reports folder configured (REPORTS_DIR)"}
    path = reports_dir / "trends.json"
    try:
        report = json.loads(path.read_text())
        drift = report["drift"]
    except (OSError, ValueError, KeyError, TypeError):
        return {
            "state": "unknown",
            "detail": f"no drift check yet: `tweet-triage trends` writes {path.name}",
        }
    failed = [c["name"] for c in drift.get("checks", []) if not c.get("passed")]
    checked = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return {
        "state": "pass" if drift.get("passed") else "fail",
        "detail": ("failed: " + ", ".join(failed)) if failed else "every check within tolerance",
        "checked": checked,
        "tolerance": drift.get("tolerance"),
    }


# --- API ------------------------------------------------------------------------------------------

api = APIRouter(prefix="/api")
TweetText = Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[TweetText] = Field(min_length=1)


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[StrictStr, StringConstraints(min_length=1, max_length=32)]
    decision: Literal["handled", "not_for_us", "needed_us"]


def _invalid(loc: tuple[str | int, ...], message: str, kind: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": message, "input": None}])


@api.post("/score")
def score(body: ScoreRequest, user: ApiUserDep, box: InboxDep) -> Response:
    cap = box.config.score_max_texts
    if len(body.texts) > cap:
        raise _invalid(
            ("body", "texts"), f"at most {cap} texts per request, got {len(body.texts)}", "too_long"
        )
    for i, text in enumerate(body.texts):
        if not text.strip():
            raise _invalid(("body", "texts", i), "text is blank", "string_too_short")
    started = time.perf_counter()
    try:
        scores = box.model.score(body.texts)
    except ModelUnavailableError as exc:
        return JSONResponse(
            {"detail": f"no model to score with: {exc}. Train one first (make train)."}, 503
        )
    box.metrics.scored_request(len(body.texts), time.perf_counter() - started)
    return JSONResponse(
        [
            {
                "p_needs_support": round(p, 6),
                "needs_support": p >= scores.threshold,
                "model_version": scores.version,
            }
            for p in scores.probabilities
        ]
    )


@api.get("/queue")
def api_queue(
    user: ApiUserDep,
    store: StoreDep,
    order: Order = "likely",
    tag: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [t.as_json() for t in store.queue(order=order, tag=tag, since=since, limit=limit)]


@api.post("/decisions")
def api_decide(body: DecisionRequest, user: ApiUserDep, box: InboxDep) -> Response:
    try:
        recorded = box.store.decide(body.id, user.id, body.decision)
    except UnknownTweetError as exc:
        return JSONResponse({"detail": str(exc)}, 404)
    box.metrics.decided(box.store, body.id, recorded.decided_at)
    return JSONResponse(_decision_json(recorded), 201)


def _decision_json(recorded: Any) -> dict[str, Any]:
    return {
        "id": recorded.tweet_id,
        "decision": recorded.decision,
        "user": recorded.user_name,
        "decided_at": recorded.decided_at.isoformat(),
    }


@public.get("/metrics", include_in_schema=False)
def metrics(user: Annotated[UserView, Depends(any_user)], box: InboxDep) -> Response:
    body, content_type = box.metrics.render()
    from tweet_triage.live.retrain import loop_metrics

    drift = read_drift_status(box.config.reports_dir)["state"]
    body += loop_metrics(_loop_card(box), drift).encode()
    return Response(body, media_type=content_type)


def _loop_card(box: Inbox) -> dict[str, Any] | None:
    """The closed loop's card: last retrain, champion and age, labels since (issue 12)."""
    from tweet_triage.live.retrain import loop_card

    if box.config.state_dir is None:
        return None
    return loop_card(box.config.state_dir, box.model.version, box.store)
