"""How the inbox answers when a request cannot be served."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from tweet_triage.live.store import DatabaseUnavailableError
from tweet_triage.live.web.deps import LoginRequired

log = logging.getLogger(__name__)


def _redirect_to_login(request: Request, _exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.error("%s", exc)
    return JSONResponse({"detail": "the triage database is unavailable; retry"}, 503)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _redirect_to_login)
    app.add_exception_handler(DatabaseUnavailableError, _database_unavailable)
