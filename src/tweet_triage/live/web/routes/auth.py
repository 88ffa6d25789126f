"""Logging in and out of the inbox's pages.

The login form's CSRF pair is server-signed (a cookie and the same value in the form), and a
browser keeps its pair while it is valid, so two login tabs both work. Attempts are throttled
before the password is checked (`security.LoginThrottle`); a browser that logged in as a user
before carries a signed device cookie and keeps its own allowance for that user.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from tweet_triage.live.store import utc_now
from tweet_triage.live.web.deps import (
    SESSION_COOKIE,
    CsrfSessionDep,
    Inbox,
    InboxDep,
    StoreDep,
    is_secure,
    render,
    safe_next,
)
from tweet_triage.live.web.security import new_secret, same_secret, token_digest

log = logging.getLogger(__name__)
router = APIRouter()
LOGIN_CSRF_COOKIE = "tt_login_csrf"
LOGIN_FORM_SECONDS = 3600
DEVICE_COOKIE = "tt_device"
DEVICE_SECONDS = 30 * 24 * 3600


def _signed(box: Inbox, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(box.secret, salt=purpose)


def _unsigned(box: Inbox, purpose: str, value: str | None, max_age: int) -> Any:
    """What the inbox signed for `purpose`, or None when missing, forged or too old."""
    if not value:
        return None
    try:
        return _signed(box, purpose).loads(value, max_age=max_age)
    except BadSignature:  # SignatureExpired is one too
        return None


def _login_token(request: Request, box: Inbox) -> str:
    """The browser's login CSRF token: its current one while valid, else a new one."""
    current = request.cookies.get(LOGIN_CSRF_COOKIE)
    if current and _unsigned(box, "login-csrf", current, LOGIN_FORM_SECONDS) is not None:
        return current
    return _signed(box, "login-csrf").dumps(new_secret())


def _device(request: Request, box: Inbox) -> dict[str, str] | None:
    found = _unsigned(box, "device", request.cookies.get(DEVICE_COOKIE), DEVICE_SECONDS)
    return found if isinstance(found, dict) else None


def _throttle_key(request: Request, box: Inbox, name: str) -> tuple[str, str]:
    """(device, name) for a browser that logged in as `name` before; else (address, name)."""
    device = _device(request, box)
    if device is not None and device.get("user") == name.lower():
        return f"device:{device['id']}", name.lower()
    return (request.client.host if request.client else "unknown"), name.lower()


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, box: InboxDep, next: str = "/", unsaved: bool = False) -> Response:
    notice = (
        "Your session had expired, so what you just did was not saved: log in, and do it again."
        if unsaved
        else None
    )
    return _login_form(request, box, next, notice, 200)


def _login_form(
    request: Request, box: Inbox, target: str, error: str | None, status: int
) -> Response:
    token = _login_token(request, box)
    response = render(
        request,
        "login.html",
        {"csrf_token": token, "next": safe_next(target), "error": error},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_FORM_SECONDS,
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
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    issued = _unsigned(box, "login-csrf", cookie, LOGIN_FORM_SECONDS) is not None
    if not (issued and same_secret(csrf_token, cookie)):
        return _login_form(request, box, next, "The login form had expired; log in again.", 403)
    name = username.strip()
    key = _throttle_key(request, box, name)
    wait = box.throttle.reserve(key)
    if wait > 0:
        response = _login_form(
            request, box, next, f"Too many failed logins; try again in {math.ceil(wait)} s.", 429
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    user = box.store.user_by_name(name)
    verified = box.password_checks.verify(user.password_hash if user else None, password)
    if verified is None:
        response = _login_form(
            request, box, next, "Too many logins at once; try again in a few seconds.", 503
        )
        response.headers["Retry-After"] = "5"
        return response
    if not verified or user is None:
        log.warning("failed login from %s", key[0])
        return _login_form(request, box, next, "Wrong user name or password.", 401)
    box.throttle.succeeded(key)
    return _logged_in(request, box, user.id, name, next)


def _logged_in(request: Request, box: Inbox, user_id: int, name: str, target: str) -> Response:
    """A new session, the browser's device cookie for this user, and on to `target`."""
    token = new_secret()
    expires = utc_now() + timedelta(hours=box.config.session_hours)
    box.store.add_session(token_digest(token), user_id, new_secret(), expires)
    secure = is_secure(request, box.config)
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(box.config.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    device = _device(request, box)
    device_id = device["id"] if device else new_secret()
    response.set_cookie(
        DEVICE_COOKIE,
        _signed(box, "device").dumps({"user": name.lower(), "id": device_id}),
        max_age=DEVICE_SECONDS,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure,
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
