"""The inbox: FastAPI app with server-rendered pages, a JSON API, /healthz and /metrics.

`create_app` only assembles: the shared state (`deps.Inbox`), the middleware, the error
handlers and the routers of `web.routes`, one per concern. Who may call what is in `deps`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store import TriageStore
from tweet_triage.live.web.deps import WEB_DIR, Inbox, InboxConfig, ago
from tweet_triage.live.web.errors import install_error_handlers
from tweet_triage.live.web.loop import LoopState, read_loop_state
from tweet_triage.live.web.metrics import InboxMetrics
from tweet_triage.live.web.middleware import BodyLimit, SecurityHeaders
from tweet_triage.live.web.routes import api, auth, dashboard, labelling, operations, tweets
from tweet_triage.live.web.scoring import ModelProvider
from tweet_triage.live.web.security import LoginThrottle, PasswordChecks, server_secret

LONG_TEXT_CHARS = 600  # longer tweet texts show this much until opened


def create_app(store: TriageStore, model: ModelProvider, config: InboxConfig) -> FastAPI:
    """The inbox app over a migrated store."""
    app = FastAPI(
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
        assets={
            name: (WEB_DIR / "static" / name).read_text() for name in ("inbox.css", "inbox.js")
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
    for routes in (operations, auth, tweets, dashboard, labelling, api):
        app.include_router(routes.router)
    return app


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.filters["ago"] = ago
    templates.env.filters["utc"] = lambda d: d.strftime("%Y-%m-%d %H:%M UTC") if d else ""
    templates.env.filters["decision_text"] = lambda value: Decision(value).display
    templates.env.globals["long_text"] = LONG_TEXT_CHARS
    return templates
