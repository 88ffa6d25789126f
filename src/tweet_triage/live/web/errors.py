"""How the inbox answers when a request cannot be served.

Scripts (`/api/*`, `/metrics`, and the pages' own `fetch` calls, which ask for JSON) get a
JSON problem body (`application/problem+json`: `title`, `status`, `detail`); people get an
error page in the inbox's style with a way back. No answer repeats what was sent: a 422 names
the field and the rule, never the value (which may be huge, or a password).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tweet_triage.live.store import DatabaseUnavailableError
from tweet_triage.live.web.deps import LoginRequired, known_session, render, safe_next

log = logging.getLogger(__name__)
JSON_PATHS = ("/api/", "/metrics", "/healthz")


def wants_json(request: Request) -> bool:
    """Whether the caller is a script: the API and monitoring paths, or an Accept of JSON."""
    if request.url.path.startswith(JSON_PATHS):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def came_from(request: Request) -> str | None:
    """The page of this site the request was sent from (its Referer), if any."""
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.netloc != request.url.netloc:
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return target if safe_next(target) == target else None


class Refusal(HTTPException):
    """An HTTP refusal whose problem body carries named figures besides its sentence (a
    reply's `count` and `limit`, who replied first), so scripts need not parse the words."""

    def __init__(self, status: int, detail: str, **fields: Any) -> None:
        super().__init__(status, detail)
        self.fields = fields


def error_response(
    request: Request,
    status: int,
    detail: str | list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    fields: dict[str, Any] | None = None,
) -> Response:
    """The one shape of an error: a problem body for scripts, a page for people."""
    title = HTTPStatus(status).phrase
    if wants_json(request):
        return JSONResponse(
            {**(fields or {}), "title": title, "status": status, "detail": detail},
            status,
            headers=headers,
            media_type="application/problem+json",
        )
    message = detail if isinstance(detail, str) else _sentences(detail)
    if status < 500:  # the page shows who is logged in (the database answers)
        known_session(request)
    response = render(
        request,
        "error.html",
        {"status": status, "title": title, "message": message, "back": came_from(request)},
        status_code=status,
    )
    response.headers.update(headers or {})
    return response


def _sentences(errors: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{' '.join(str(p) for p in e['loc'][1:]) or 'the request'}: {e['msg']}" for e in errors
    )


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """The errors without the input they were about (no echo; surrogates cannot break it)."""
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error["type"]}
        for error in exc.errors()
    ]


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    fields = exc.fields if isinstance(exc, Refusal) else None
    return error_response(request, exc.status_code, str(exc.detail), exc.headers, fields)


def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(request, 422, validation_errors(exc))


def _login_required(request: Request, _exc: Exception) -> Response:
    """No live session: to the login page, and back afterwards to the page the person was on.

    A form sent with an expired session was not saved: the login page says so, and the way
    back is the page the form was on (its Referer), not the form's target. A page's script
    gets 401 and does the same itself. Logging out needs no session to end.
    """
    if wants_json(request):
        return error_response(request, 401, "your session has expired; log in again")
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    if request.url.path == "/logout":
        return RedirectResponse("/login", status_code=303)
    query = {"next": came_from(request) or "/", "unsaved": "1"}
    return RedirectResponse(f"/login?{urlencode(query)}", status_code=303)


def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.error("%s", exc)
    return error_response(request, 503, "the triage database is unavailable; retry")


def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "the inbox failed on this request; its log says why")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(DatabaseUnavailableError, _database_unavailable)
    app.add_exception_handler(Exception, _server_error)
