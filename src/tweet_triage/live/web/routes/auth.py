"""Logging in and out of the inbox's pages.

The login form carries a double-submit CSRF pair (a cookie and a field); failed logins are
throttled per (client address, user name).
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tweet_triage.live.store import utc_now
from tweet_triage.live.web.deps import (
    SESSION_COOKIE,
    CsrfSessionDep,
    InboxDep,
    StoreDep,
    is_secure,
    render,
    safe_next,
)
from tweet_triage.live.web.security import new_secret, same_secret, token_digest, verify_password

log = logging.getLogger(__name__)
router = APIRouter()
LOGIN_CSRF_COOKIE = "tt_login_csrf"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, box: InboxDep, next: str = "/") -> Response:
    return _login_form(request, box, next, None, 200)


def _login_form(
    request: Request, box: InboxDep, target: str, error: str | None, status: int
) -> Response:
    csrf = new_secret()
    response = render(
        request,
        "login.html",
        {"csrf_token": csrf, "next": safe_next(target), "error": error},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=is_secure(request, box.config),
    )
    return response


@router.post("/login")
def login(
    request: Request,
    box: InboxDep,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    csrf_token: Annotated[str | None, Form()] = None,
    next: Annotated[str, Form()] = "/",
) -> Response:
    if not same_secret(csrf_token, request.cookies.get(LOGIN_CSRF_COOKIE)):
        raise HTTPException(403, "missing or wrong CSRF token; reload the login page")
    client = request.client.host if request.client else "unknown"
    key = (client, username.strip().lower())
    wait = box.throttle.retry_after(key)
    if wait > 0:
        response = _login_form(
            request, box, next, f"Too many failed logins; try again in {math.ceil(wait)} s.", 429
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = box.store.user_by_name(username.strip())
    if not verify_password(user.password_hash if user else None, password) or user is None:
        box.throttle.failed(key)
        log.warning("failed login from %s", client)
        return _login_form(request, box, next, "Wrong user name or password.", 401)
    box.throttle.succeeded(key)
    token = new_secret()
    expires = utc_now() + timedelta(hours=box.config.session_hours)
    box.store.add_session(token_digest(token), user.id, new_secret(), expires)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(box.config.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=is_secure(request, box.config),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, session: CsrfSessionDep, store: StoreDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        store.delete_session(token_digest(token))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
