"""The X stand-in over HTTP on 127.0.0.1: X API v2's filtered-stream endpoints and controls.

- `GET /2/tweets/search/stream`: chunked, newline-delimited JSON (`{"data": ..., "matching_rules":
  [...]}` + `\\r\\n`), a keep-alive `\\r\\n` after `keepalive_seconds` without a tweet;
  `tweet.fields` selects the fields (default X's id, text, edit_history_tweet_ids).
- `GET|POST /2/tweets/search/stream/rules`: add (with tag), delete by ids or values, dry_run,
  X's `meta` with `sent` and `summary`, DuplicateRule / invalid-rule errors.
- Bearer auth against one token; X's 401, 400 (invalid request), 409 (no rules) bodies.
- X's write side (write_http.py): OAuth 2.0 with PKCE (`/2/oauth2/authorize|token|revoke`),
  `POST /2/tweets` (user context only), `GET /2/tweets/:id`, `GET /2/users/:id/tweets`,
  `GET /2/users/me`.
- Controls: `GET /_standin/stats` (counters and every id sent, so a test can compare what was
  sent with what arrived), `POST /_standin/faults`, `POST /_standin/replay`, `GET
  /_standin/posts` (every post made), `POST /_standin/posting` (posting faults), `POST
  /_standin/oauth` (expire or revoke the tokens issued).

This module validates requests and shapes responses only; the behaviour is `StandIn`'s
(standin.py), composed of the replay corpus, the rule store, admission, faults and state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tweet_triage_local.xapi import problems
from tweet_triage_local.xapi.standin import StandIn
from tweet_triage_local.xapi.state import StandInError
from tweet_triage_local.xapi.write_http import (
    AUTHORIZE_PATH,
    ME_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    TWEETS_PATH,
    USERS_PATH,
    WriteRoutes,
)

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"


def _peer_closed(sock: socket.socket) -> Callable[[], bool]:
    def closed() -> bool:
        try:
            readable, _, _ = select.select([sock], [], [], 0)
            if not readable:
                return False
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    return closed


def _split_csv(values: list[str]) -> list[str]:
    return [item for value in values for item in value.split(",")]


def _stream_fields(query: dict[str, list[str]]) -> frozenset[str] | dict[str, Any]:
    """The tweet fields to send, or X's 400 body for a bad query."""
    errors = []
    for name, values in query.items():
        if name not in problems.STREAM_PARAMETERS:
            allowed = ",".join(sorted(problems.STREAM_PARAMETERS))
            errors.append(
                problems.parameter_error(
                    name, values, f"The query parameter [{name}] is not one of [{allowed}]"
                )
            )
        elif name == "backfill_minutes":
            value = values[-1]
            if not (value.isdigit() and 0 <= int(value) <= 5):
                errors.append(
                    problems.parameter_error(
                        name,
                        values,
                        f"The `backfill_minutes` query parameter value [{value}] is not "
                        "between 0 and 5",
                    )
                )
        else:
            allowed_values = problems.FIELD_PARAMETERS[name]
            for item in _split_csv(values):
                if item not in allowed_values:
                    errors.append(
                        problems.parameter_error(
                            name,
                            [item],
                            f"The `{name}` query parameter value [{item}] is not one of "
                            f"[{','.join(sorted(allowed_values))}]",
                        )
                    )
    if errors:
        return problems.invalid_request(errors)
    requested = set(_split_csv(query.get("tweet.fields", [])))
    return frozenset(requested | set(problems.DEFAULT_TWEET_FIELDS))


class _Handler(WriteRoutes, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60  # seconds: an idle keep-alive connection, or a client not reading its stream
    server: _HTTPServer
    server_version = "tweet-triage-x-standin"

    @property
    def standin(self) -> StandIn:
        return self.server.standin

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_text(self, status: int, content_type: str, text: str, **headers: str) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _rate_headers(self) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": "449",
            "x-rate-limit-reset": str(int(time.time()) + 900),
        }

    def _read_json(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ValueError("the request needs a JSON body with a Content-Length")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"the request body is not JSON: {exc}") from exc

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = parse_qs(parts.query, keep_blank_values=True)
        # X's write side authenticates per route: the browser, the OAuth client, the user.
        own_auth: dict[tuple[str, str], Callable[[dict[str, list[str]]], None]] = {
            ("GET", AUTHORIZE_PATH): self._authorize_page,
            ("POST", AUTHORIZE_PATH): self._authorize_decision,
            ("POST", TOKEN_PATH): self._token,
            ("POST", REVOKE_PATH): self._revoke,
            ("POST", TWEETS_PATH): self._create_post,
            ("GET", ME_PATH): self._me,
        }
        if (method, path) in own_auth:
            own_auth[(method, path)](query)
            return
        if method == "GET" and path.startswith(TWEETS_PATH + "/") and path.count("/") == 3:
            self._get_post(path.rsplit("/", 1)[1])
            return
        segments = path.split("/")
        if method == "GET" and path.startswith(USERS_PATH + "/") and segments[4:] == ["tweets"]:
            self._user_posts(segments[3], query)
            return
        if not self.standin.authorised(self.headers.get("Authorization")):
            with self.standin.lock:
                self.standin.stats.refuse("unauthorized")
            if method == "POST":  # drain the body so the connection stays usable
                with contextlib.suppress(ValueError):
                    self._read_json()
            self._send_json(401, problems.unauthorized())
            return
        routes: dict[tuple[str, str], Callable[[dict[str, list[str]]], None]] = {
            ("GET", STREAM_PATH): self._stream,
            ("GET", RULES_PATH): self._get_rules,
            ("POST", RULES_PATH): self._post_rules,
            ("GET", "/_standin/stats"): self._get_stats,
            ("POST", "/_standin/faults"): self._post_faults,
            ("POST", "/_standin/replay"): self._post_replay,
            ("GET", "/_standin/posts"): self._get_posts,
            ("POST", "/_standin/posting"): self._post_posting,
            ("POST", "/_standin/oauth"): self._post_oauth_control,
            ("POST", "/_standin/authors"): self._post_authors,
        }
        handler = routes.get((method, path))
        if handler is None:
            self._send_json(404, problems.not_found(path))
            return
        handler(query)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    # --- endpoints ------------------------------------------------------------------------
    def _stream(self, query: dict[str, list[str]]) -> None:
        fields = _stream_fields(query)
        if isinstance(fields, dict):
            with self.standin.lock:
                self.standin.stats.refuse("bad_request")
            self._send_json(400, fields)
            return
        admitted = self.standin.open_stream(_peer_closed(self.connection))
        if isinstance(admitted, tuple):
            status, body = admitted
            headers = self._rate_headers()
            if status == 429:
                headers["x-rate-limit-remaining"] = "0"
            self._send_json(status, body, headers)
            return
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        for key, value in self._rate_headers().items():
            self.send_header(key, value)
        self.end_headers()

        def write_chunk(payload: bytes) -> None:
            self.wfile.write(b"%x\r\n%b\r\n" % (len(payload), payload))

        reason = "connection error"
        try:
            expand_authors = "author_id" in _split_csv(query.get("expansions", []))
            reason = self.standin.run_stream(admitted, write_chunk, fields, expand_authors)
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            reason = f"client went away ({exc.__class__.__name__})"
        finally:
            self.standin.close_stream(admitted)
            log.info("stream connection ended: %s", reason)
        if reason.startswith("dropped"):  # abruptly, like a network failure: no final chunk
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
        elif reason == "stand-in shutting down":
            with contextlib.suppress(OSError):
                self.wfile.write(b"0\r\n\r\n")

    def _get_rules(self, query: dict[str, list[str]]) -> None:
        unknown = set(query) - {"ids", "max_results", "pagination_token"}
        if unknown:
            name = sorted(unknown)[0]
            self._send_json(
                400,
                problems.invalid_request(
                    [
                        problems.parameter_error(
                            name,
                            query[name],
                            f"The query parameter [{name}] is not one of "
                            "[ids,max_results,pagination_token]",
                        )
                    ]
                ),
            )
            return
        ids = _split_csv(query["ids"]) if "ids" in query else None
        self._send_json(200, self.standin.get_rules(ids), self._rate_headers())

    def _post_rules(self, query: dict[str, list[str]]) -> None:
        errors = []
        for name, values in query.items():
            if name != "dry_run":
                errors.append(
                    problems.parameter_error(
                        name, values, f"The query parameter [{name}] is not one of [dry_run]"
                    )
                )
            elif values[-1] not in ("true", "false"):
                errors.append(
                    problems.parameter_error(
                        name, values, f"The `{name}` query parameter value must be true or false"
                    )
                )
        try:
            body = self._read_json()
        except ValueError as exc:
            errors.append({"message": str(exc)})
            body = None
        problem = errors or _rules_body_problem(body)
        if problem:
            self._send_json(400, problems.invalid_request(problem))
            return
        dry_run = query.get("dry_run", ["false"])[-1] == "true"
        if "add" in body:
            result = self.standin.add_rules(body["add"], dry_run)
        else:
            delete = body["delete"]
            result = self.standin.delete_rules(delete.get("ids"), delete.get("values"), dry_run)
        self._send_json(200, result, self._rate_headers())

    def _get_stats(self, query: dict[str, list[str]]) -> None:
        include_ids = query.get("ids", ["true"])[-1] != "false"
        self._send_json(200, self.standin.stats_json(include_ids))

    def _post_faults(self, query: dict[str, list[str]]) -> None:
        try:
            body = self._read_json()
            if not isinstance(body, dict):
                raise StandInError("send a JSON object of fault settings")
            self.standin.set_faults(body)
        except (ValueError, StandInError) as exc:
            self._send_json(400, problems.invalid_request([{"message": str(exc)}]))
            return
        self._send_json(200, self.standin.stats_json(include_ids=False)["faults"])

    def _post_replay(self, query: dict[str, list[str]]) -> None:
        try:
            body = self._read_json()
            if not isinstance(body, dict):
                raise StandInError("send a JSON object of replay settings")
            self.standin.set_replay(body)
        except (ValueError, TypeError, StandInError) as exc:
            self._send_json(400, problems.invalid_request([{"message": str(exc)}]))
            return
        self._send_json(200, self.standin.stats_json(include_ids=False))


def _rules_body_problem(body: Any) -> list[dict[str, Any]]:
    """X's 400 error list for a malformed rules request body (empty when it is well formed)."""
    if not isinstance(body, dict) or len(set(body) & {"add", "delete"}) != 1 or len(body) != 1:
        return [{"message": "The request body must be a JSON object with exactly one of "
                 "'add' or 'delete'"}]  # fmt: skip
    if "add" in body:
        additions = body["add"]
        if not isinstance(additions, list) or not additions:
            return [{"message": "'add' must be a non-empty array of {value, tag} objects"}]
        for item in additions:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("value"), str)
                or set(item) - {"value", "tag"}
                or not isinstance(item.get("tag", ""), str)
            ):
                return [{"message": f"each rule must be {{value: string, tag?: string}}: {item}"}]
        return []
    delete = body["delete"]
    if not isinstance(delete, dict) or len(delete) != 1 or not set(delete) <= {"ids", "values"}:
        return [{"message": "'delete' must be an object with exactly one of 'ids' or 'values'"}]
    items = next(iter(delete.values()))
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        return [{"message": "'delete' ids or values must be a non-empty array of strings"}]
    return []


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up a shutdown
    allow_reuse_address = True

    def __init__(self, port: int, standin: StandIn) -> None:
        self.standin = standin
        super().__init__((HOST, port), _Handler)


class XStandInServer:
    """The stand-in on 127.0.0.1:`port` (0 = a free port); `serve_forever()` or `start()`."""

    def __init__(self, standin: StandIn, port: int = 0) -> None:
        self.standin = standin
        try:
            self._httpd = _HTTPServer(port, standin)
        except OSError as exc:
            raise StandInError(
                f"cannot listen on {HOST}:{port} ({exc.strerror}); choose another --port "
                "(LOCAL_XAPI_PORT) or stop what uses it"
            ) from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def serve_forever(self) -> None:
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self.standin.stopping.set()
            self.standin.save_position()
            self._httpd.server_close()

    def start(self) -> XStandInServer:
        """Serve in a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.serve_forever, name="x-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.standin.stopping.set()
        self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> XStandInServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
