"""The stand-in's HTTP routes for X's write side: OAuth 2.0 with PKCE, posting, reading posts.

A mixin of the request handler in server.py (it uses the handler's `_send_json`, `_read_json`
and `standin`); the behaviour is `AuthorizationServer`'s (oauth.py) and `PostBook`'s (posts.py).
"""

from __future__ import annotations

import base64
import binascii
import html
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from tweet_triage_local.xapi import problems
from tweet_triage_local.xapi.oauth import OAuthProblem
from tweet_triage_local.xapi.state import StandInError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tweet_triage_local.xapi.oauth import Grant
    from tweet_triage_local.xapi.standin import StandIn

AUTHORIZE_PATH = "/2/oauth2/authorize"
TOKEN_PATH = "/2/oauth2/token"
REVOKE_PATH = "/2/oauth2/revoke"
TWEETS_PATH = "/2/tweets"
USERS_PATH = "/2/users"
ME_PATH = "/2/users/me"
UNSUPPORTED_AUTHENTICATION = {
    "title": "Unsupported Authentication",
    "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.  "
    "Supported authentication types are [OAuth 1.0a User Context, OAuth 2.0 User Context].",
    "type": f"{problems.PROBLEMS}/unsupported-authentication",
    "status": 403,
}

_APPROVE_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<title>Authorize app - X stand-in</title></head><body>
<h1>{client} wants to access your X account</h1>
<p>Signed in as <b>@{username}</b> ({name}).</p>
<p>It asks for: {scopes}</p>
<form method="post" action="{path}">
<input type="hidden" name="approval" value="{approval}">
<button name="decision" value="approve" id="approve">Authorize app</button>
<button name="decision" value="cancel" id="cancel">Cancel</button>
</form></body></html>"""


class WriteRoutes:
    """OAuth, posting, reading posts and timelines, `GET /2/users/me`, and their controls."""

    if TYPE_CHECKING:  # provided by the request handler in server.py
        standin: StandIn
        headers: Any
        rfile: Any

        def _send_json(
            self, status: int, body: Any, headers: Mapping[str, str] | None = None
        ) -> None: ...

        def _read_json(self) -> Any: ...

        def _send_text(self, status: int, content_type: str, text: str, **headers: str) -> None: ...

    def _read_form(self) -> dict[str, str]:
        length = self.headers.get("Content-Length")
        raw = self.rfile.read(int(length)) if length and length.isdigit() else b""
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

    def _basic_auth(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Basic "):
            return None
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret

    def _user_grant(self) -> Grant | None:
        header = self.headers.get("Authorization") or ""
        if not header.startswith("Bearer "):
            return None
        return self.standin.oauth.grant_for(header[7:])

    def _refuse_without_user(self) -> None:
        """X's answer to a user-context route without a user token: 403 for the app's bearer
        (app-only auth is not allowed there), 401 for anything else."""
        if self.standin.authorised(self.headers.get("Authorization")):
            self._send_json(403, UNSUPPORTED_AUTHENTICATION)
        else:
            self._send_json(401, problems.unauthorized())

    def _reader_authorised(self) -> bool:
        """Read routes take a user token or the app's bearer; otherwise X's 401 is sent."""
        if self._user_grant() is None and not self.standin.authorised(
            self.headers.get("Authorization")
        ):
            self._send_json(401, problems.unauthorized())
            return False
        return True

    # --- OAuth ----------------------------------------------------------------------------
    def _authorize_page(self, query: dict[str, list[str]]) -> None:
        params = {name: values[-1] for name, values in query.items()}
        try:
            approval = self.standin.oauth.begin(params)
        except OAuthProblem as problem:
            reason = html.escape(str(problem))
            page = f"<h1>This authorization request is invalid</h1><p>{reason}</p>"
            self._send_text(400, "text/html; charset=utf-8", page)
            return
        account = self.standin.oauth.account
        page = _APPROVE_PAGE.format(
            client=html.escape(self.standin.oauth.client.client_id),
            username=html.escape(account.username),
            name=html.escape(account.name),
            scopes=html.escape(params["scope"]),
            path=AUTHORIZE_PATH,
            approval=html.escape(approval),
        )
        self._send_text(200, "text/html; charset=utf-8", page)

    def _authorize_decision(self, query: dict[str, list[str]]) -> None:
        form = self._read_form()
        try:
            location = self.standin.oauth.decide(
                form.get("approval", ""), form.get("decision") == "approve"
            )
        except OAuthProblem as problem:
            self._send_text(400, "text/html; charset=utf-8", html.escape(str(problem)))
            return
        self._send_text(302, "text/plain", "", Location=location)

    def _token(self, query: dict[str, list[str]]) -> None:
        form = self._read_form()
        try:
            body = self.standin.oauth.token(form, self._basic_auth())
        except OAuthProblem as problem:
            self._send_json(problem.status, problem.body())
            return
        self._send_json(200, body, {"Cache-Control": "no-store"})

    def _revoke(self, query: dict[str, list[str]]) -> None:
        form = self._read_form()
        self.standin.oauth.revoke(form.get("token", ""))
        self._send_json(200, {"revoked": True})

    # --- posts ----------------------------------------------------------------------------
    def _create_post(self, query: dict[str, list[str]]) -> None:
        grant = self._user_grant()
        try:
            body = self._read_json()
        except ValueError as exc:
            body = exc
        if grant is None:
            self._refuse_without_user()
            return
        if isinstance(body, ValueError):
            self._send_json(400, problems.invalid_request([{"message": str(body)}]))
            return
        status, answer, headers = self.standin.posts.create(grant, body)
        self._send_json(status, answer, headers)

    def _get_post(self, tweet_id: str) -> None:
        if not self._reader_authorised():
            return
        tweet = self.standin.posts.tweet(tweet_id) if tweet_id.isdigit() else None
        if tweet is None or tweet_id in self.standin.posts.faults.deleted:
            self._send_json(200, {"errors": [_tweet_not_found(tweet_id)]})
            return
        self._send_json(200, {"data": tweet})

    def _user_posts(self, user_id: str, query: dict[str, list[str]]) -> None:
        if not self._reader_authorised():
            return
        raw = query.get("max_results", ["10"])[-1]
        if not raw.isdigit() or not 5 <= int(raw) <= 100:
            message = f"The `max_results` query parameter value [{raw}] is not between 5 and 100"
            self._send_json(400, problems.invalid_request([{"message": message}]))
            return
        posts = self.standin.posts.timeline(user_id, int(raw))
        body: dict[str, Any] = {"meta": {"result_count": len(posts)}}
        if posts:
            body["data"] = posts
            body["meta"].update(newest_id=posts[0]["id"], oldest_id=posts[-1]["id"])
        self._send_json(200, body)

    def _me(self, query: dict[str, list[str]]) -> None:
        grant = self._user_grant()
        if grant is None:
            self._refuse_without_user()
            return
        self._send_json(200, {"data": grant.account.as_json()})

    # --- controls (app bearer) ------------------------------------------------------------
    def _get_posts(self, query: dict[str, list[str]]) -> None:
        self._send_json(200, {"posts": self.standin.posts.listing()})

    def _post_posting(self, query: dict[str, list[str]]) -> None:
        try:
            body = self._read_json()
            if not isinstance(body, dict):
                raise StandInError("send a JSON object of posting faults")
            faults = self.standin.posts.set_faults(body)
        except (ValueError, StandInError) as exc:
            self._send_json(400, problems.invalid_request([{"message": str(exc)}]))
            return
        self._send_json(200, faults)

    def _post_authors(self, query: dict[str, list[str]]) -> None:
        try:
            body = self._read_json()
            if not isinstance(body, dict):
                raise StandInError("send a JSON object: share, delay_seconds")
            settings = self.standin.authors.configure(body)
        except (ValueError, StandInError) as exc:
            self._send_json(400, problems.invalid_request([{"message": str(exc)}]))
            return
        authors = self.standin.authors
        self._send_json(
            200, {**settings, "pending": authors.pending(), "answered": authors.answered()}
        )

    def _post_oauth_control(self, query: dict[str, list[str]]) -> None:
        try:
            body = self._read_json()
        except ValueError as exc:
            self._send_json(400, problems.invalid_request([{"message": str(exc)}]))
            return
        actions = {"expire_access_tokens": self.standin.oauth.expire_now,
                   "revoke_all": self.standin.oauth.revoke_all}  # fmt: skip
        if not isinstance(body, dict) or not body or set(body) - set(actions):
            message = f"send a JSON object with any of {sorted(actions)} set to true"
            self._send_json(400, problems.invalid_request([{"message": message}]))
            return
        done = {name: actions[name]() for name, wanted in body.items() if wanted is True}
        self._send_json(200, done)


def _tweet_not_found(tweet_id: str) -> dict[str, Any]:
    return {
        "value": tweet_id,
        "detail": f"Could not find tweet with id: [{tweet_id}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "id",
        "resource_id": tweet_id,
        "type": f"{problems.PROBLEMS}/resource-not-found",
    }
