"""Point tweepy at any X API base URL: X itself, a proxy, or the local stand-in.

tweepy 4.x hard-codes `https://api.twitter.com` in two places: `BaseClient.request` (the rules
endpoints, `host = "https://api.twitter.com"`) and `StreamingClient._connect` (the stream,
`url = f"https://api.twitter.com/2/tweets/{endpoint}/stream"`). Both send through one
`requests.Session` (`client.session`). Instead of copying those methods (and silently losing
tweepy's reconnect and backoff logic when tweepy changes), we mount a transport adapter on that
session for the `https://api.twitter.com/` prefix that rewrites each request's URL to the
configured base URL just before it is sent. Everything else, from auth headers to tweepy's
reconnects, stays tweepy's own.

Use `XStreamingClient(token, base_url=settings.x_api_base_url)` where you would use
`tweepy.StreamingClient`, and subclass it the same way (`on_response`, `on_tweet`, ...). For
any other tweepy client or a plain session, call `use_base_url(client.session, base_url)`.

One more difference: a line that is not a valid stream payload (X has sent truncated JSON
during incidents; the stand-in's `malformed-after` fault does it on purpose) goes to
`on_malformed_line(raw, error)` and the stream goes on. Plain tweepy lets the JSON error escape
`on_data`, which ends the whole stream (`on_exception`, then `running = False`).
"""

from __future__ import annotations

import ipaddress
import json
import logging
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from tweet_triage.errors import TriageError

log = logging.getLogger(__name__)

TWEEPY_HOST = "https://api.twitter.com"
X_API_BASE_URL = "https://api.x.com"
# tweepy sends its rules calls without a timeout: a host that accepts and never answers would
# hold the caller forever. The stream itself passes its own (the read timeout is the stall).
DEFAULT_TIMEOUT = (10.0, 30.0)  # connect, read (seconds)


class XClientConfigError(TriageError):
    """The X API base URL is not usable; the message names the setting and the fix."""


def normalise_base_url(base_url: str) -> str:
    """`scheme://host[:port]` without a trailing slash; refuse anything with a path or query."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise XClientConfigError(
            f"X_API_BASE_URL={base_url!r} is not an http(s) URL; use e.g. https://api.x.com "
            "or the local stand-in's http://127.0.0.1:8787"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise XClientConfigError(
            f"X_API_BASE_URL={base_url!r} must be only scheme, host and port (no path such as "
            "/2); use e.g. https://api.x.com"
        )
    return f"{parts.scheme}://{parts.netloc}"


def _is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BaseUrlAdapter(HTTPAdapter):
    """Sends requests addressed to tweepy's hard-coded host to `base_url` instead.

    Requests to a loopback base URL never go through a proxy from the environment (a corporate
    HTTP_PROXY would otherwise receive the stand-in's traffic and the bearer token). A request
    sent without a timeout gets `DEFAULT_TIMEOUT`.
    """

    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = normalise_base_url(base_url)
        self._bypass_proxies = _is_loopback(self.base_url)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        url = request.url or ""
        if url == TWEEPY_HOST or url.startswith(TWEEPY_HOST + "/"):
            request.url = self.base_url + url[len(TWEEPY_HOST) :]
        if self._bypass_proxies:
            kwargs["proxies"] = {}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT
        return super().send(request, **kwargs)


def use_base_url(session: requests.Session, base_url: str) -> None:
    """Make `session` (a tweepy client's) send its api.twitter.com requests to `base_url`."""
    session.mount(TWEEPY_HOST + "/", BaseUrlAdapter(base_url))


class XStreamingClient(tweepy.StreamingClient):
    """`tweepy.StreamingClient` that talks to `base_url` (default X's https://api.x.com).

    The rules calls (`add_rules`, `delete_rules`, `get_rules`) and the stream (`filter`) all go
    to `base_url`; every other behaviour, including tweepy's reconnects, is unchanged.
    """

    def __init__(self, bearer_token: str, *, base_url: str = X_API_BASE_URL, **kwargs: Any):
        super().__init__(bearer_token, **kwargs)
        self.base_url = normalise_base_url(base_url)
        use_base_url(self.session, self.base_url)

    def on_data(self, raw_data: bytes | str) -> None:
        """tweepy's handling, except that a malformed line is reported instead of fatal.

        The line is checked before tweepy parses it, so an exception from your own callbacks
        (`on_tweet`, `on_response`, ...) is never mistaken for bad input.
        """
        problem = payload_problem(raw_data)
        if problem is not None:
            self.on_malformed_line(raw_data, problem)
            return
        super().on_data(raw_data)

    def on_malformed_line(self, raw_data: bytes | str, problem: str) -> None:
        """Called for a line that is not a valid payload; override to count or keep it."""
        text = raw_data if isinstance(raw_data, str) else raw_data.decode("utf-8", "replace")
        log.warning("skipping a malformed stream line (%s): %r", problem, text[:200])


def payload_problem(raw_data: bytes | str) -> str | None:
    """Why a stream line is not a payload tweepy can parse, or None when it is one."""
    try:
        payload = json.loads(raw_data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return f"not JSON: {exc}"
    if not isinstance(payload, dict):
        return "not a JSON object"
    tweet = payload.get("data")
    if tweet is not None and (
        not isinstance(tweet, dict)
        or not str(tweet.get("id", "")).isdigit()
        or not isinstance(tweet.get("text"), str)
    ):
        return "'data' is not a Tweet object with a numeric id and a text"
    rules = payload.get("matching_rules", [])
    if not isinstance(rules, list) or not all(
        isinstance(rule, dict) and "id" in rule and "tag" in rule for rule in rules
    ):
        return "'matching_rules' is not a list of {id, tag} objects"
    return None
