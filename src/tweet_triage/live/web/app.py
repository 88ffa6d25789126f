"""The inbox: FastAPI app with server-rendered pages, a JSON API, /healthz and /metrics.

`create_app` only assembles: the shared state (`deps.Inbox`), the middleware, the error
handlers and the routers of `web.routes`, one per concern. Who may call what is in `deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import CapacityLimiter, to_thread
from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tweet_triage.config import SettingsError
from tweet_triage.data.decisions import Decision
from tweet_triage.live.replies import x_text
from tweet_triage.live.replies.x_account import XAccount, XAccountError
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.deps import WEB_DIR, Inbox, InboxConfig, ago
from tweet_triage.live.web.errors import install_error_handlers
from tweet_triage.live.web.loop import LoopState, read_loop_state
from tweet_triage.live.web.metrics import InboxMetrics
from tweet_triage.live.web.middleware import BodyLimit, SecurityHeaders
from tweet_triage.live.web.routes import (
    admin,
    api,
    auth,
    conversations,
    dashboard,
    labelling,
    operations,
    replies,
    tweets,
)
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import LoginThrottle, PasswordChecks, server_secret
from tweet_triage.live.web.suggestions import Suggestions

LONG_TEXT_CHARS = 600  # longer tweet texts show this much until opened
SCRIPTS = ("inbox.js", "x_text.js", "reply.js")  # inlined into each page, in this order


def create_app(store: TriageStore, model: ModelProvider, config: InboxConfig) -> FastAPI:
    """The inbox app over a migrated store."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes run in the event loop's worker threads: a few, taken in turn, keep the
        # slowest answers close to the typical one under load.
        to_thread.current_default_thread_limiter().total_tokens = config.request_threads
        yield

    app = FastAPI(
        lifespan=lifespan,
        title="tweet-triage inbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # nothing but /healthz answers without logging in
    )

    def read_loop() -> LoopState:
        # The champion is the model the API has loaded, else the one scoring the stream.
        newest = [] if model.version else store.tweets(limit=1)
        champion = model.version or (newest[0].model_version if newest else None)
        return read_loop_state(config.state_dir, config.reports_dir, champion, store)

    account, problem = _x_account(store, config)

    app.state.inbox = Inbox(
        store=store,
        model=model,
        config=config,
        throttle=LoginThrottle(config.login_attempts, config.login_window_seconds),
        password_checks=PasswordChecks(),
        secret=server_secret(config.state_dir),
        metrics=InboxMetrics(store, model, read_loop),
        templates=_templates(),
        read_loop=read_loop,
        suggestions=Suggestions(store),
        x_account=account,
        x_problem=problem,
        score_lane=CapacityLimiter(config.score_threads),
        assets={
            "inbox.css": (WEB_DIR / "static" / "inbox.css").read_text(),
            "inbox.js": "\n".join((WEB_DIR / "static" / name).read_text() for name in SCRIPTS),
        },
    )
    # The last added runs first: forwarded headers judged, Host checked, every answer with
    # security headers, and the body bounded before anything reads it.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(config.allowed_hosts))
    if config.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.trusted_proxies))
    install_error_handlers(app)
    for routes in (
        operations,
        auth,
        tweets,
        conversations,
        replies,
        dashboard,
        labelling,
        admin,
        api,
    ):
        app.include_router(routes.router)
    return app


def _x_account(store: TriageStore, config: InboxConfig) -> tuple[XAccount | None, str | None]:
    """The team's X account, or None and what to set: the inbox serves without one (the
    banner says replies cannot go out)."""
    if config.x_account is None:
        return None, "X_CLIENT_ID is not set"
    try:
        return config.x_account(store), None
    except (SettingsError, XAccountError) as exc:
        return None, str(exc)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    # The templates ship with the package: checking each one's file for changes on every
    # render (a stat per include, per queue row) only costs time.
    templates.env.auto_reload = False
    templates.env.filters["ago"] = ago
    templates.env.filters["utc"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else ""
    templates.env.filters["decision_text"] = lambda value: Decision(value).display
    templates.env.globals["long_text"] = LONG_TEXT_CHARS
    templates.env.globals["x_text_rules"] = x_text.counting_rules()
    templates.env.filters["picker"] = lambda saved: [
        {"id": s.id, "shortcode": s.shortcode, "title": s.title} for s in saved
    ]
    return templates
