"""Reads the X filtered stream with tweepy and hands each raw line to the intake.

tweepy's `StreamingClient` keeps X's reconnect guidance (immediate reconnect after X closes the
stream, linear back-off for network errors, exponential from 5 s for HTTP errors and from 60 s
for 429); `max_retries` stays infinite so a long-running streamer never gives up. Two things
are set here:

- the read timeout: tweepy passes `timeout=21` to requests, which is the longest silence a
  socket read may have; it is replaced by `(10, stall_seconds)` so a stall is detected when the
  operator wants (the ReadTimeout makes tweepy reconnect);
- `on_data` stores the line's raw bytes (not tweepy's parsed objects), after checking it is a
  JSON object with a tweet: a malformed or oversized line goes to the dead-letter file;
- the stream's lines are split by `bounded_lines` instead of requests' `iter_lines`, which
  keeps an unterminated line in memory however long it grows (and copies it for every chunk):
  a line past `MAX_LINE_BYTES` is cut off, its first KiB dead-lettered, the rest skipped.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from tweet_triage.errors import TriageError
from tweet_triage.stream.intake import Intake
from tweet_triage.stream.sinks import MAX_RECORD_BYTES
from tweet_triage.stream.stats import DeadLetters, StreamStats
from tweet_triage.stream.x_client import XStreamingClient

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
# Longer than any record Firehose takes (those are dead-lettered whole); past it a line is
# cut off without being held in memory.
MAX_LINE_BYTES = 2 * 1024 * 1024
_KEPT_HEAD_BYTES = 1024


class StreamAuthError(TriageError):
    """X refused the stream connection for good (401/403); the message says what to fix."""


class TweetReader(XStreamingClient):
    """A StreamingClient that stores raw lines durably and counts what happens."""

    def __init__(
        self,
        bearer_token: str,
        *,
        base_url: str,
        intake: Intake,
        dead_letters: DeadLetters,
        stats: StreamStats,
        stall_seconds: float,
        max_tweets: int | None = None,
        chunk_size: int = 512,
    ) -> None:
        super().__init__(
            bearer_token,
            base_url=base_url,
            wait_on_rate_limit=True,
            chunk_size=chunk_size,
            daemon=True,
            max_retries=math.inf,  # tweepy's default, made explicit: never give up
        )
        self._intake = intake
        self._dead_letters = dead_letters
        self._stats = stats
        self._stall_seconds = stall_seconds
        self._max_tweets = max_tweets
        self._response: requests.Response | None = None
        self._response_lock = threading.Lock()
        self.error: BaseException | None = None
        self.last_failure: str | None = None  # why the last connection attempt failed
        self.session.hooks["response"].append(self._remember_response)

    # --- connection -------------------------------------------------------------------------
    def _connect(self, method: str, endpoint: str, **kwargs: Any) -> None:
        # tweepy's own default is timeout=21; the read timeout is the stall detector.
        kwargs["timeout"] = (CONNECT_TIMEOUT_SECONDS, self._stall_seconds)
        super()._connect(method, endpoint, **kwargs)

    def _remember_response(self, response: requests.Response, *_: Any, **__: Any) -> None:
        if urlsplit(response.url or "").path.endswith("/stream"):
            response.iter_lines = functools.partial(  # type: ignore[method-assign]
                bounded_lines, response, MAX_LINE_BYTES, self._on_oversized_line
            )
            with self._response_lock:
                self._response = response

    def _on_oversized_line(self, head: bytes, size: int) -> None:
        self._stats.dead_lettered += 1
        reason = (
            f"stream line of {size} bytes without a newline within {MAX_LINE_BYTES} bytes; "
            f"only its first {len(head)} bytes are kept"
        )
        self._dead_letters.write(head, reason)
        log.warning("dead-lettered a stream line: %s", reason)

    def stop(self) -> None:
        """Stop reading now: also wakes a socket read that is waiting for data."""
        self.disconnect()
        with self._response_lock:
            response = self._response
        if response is None:
            return
        sock = _socket_of(response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    # --- tweepy callbacks ---------------------------------------------------------------------
    def on_data(self, raw_data: bytes) -> None:
        self._stats.bytes_received += len(raw_data)
        reason = _problem(raw_data)
        if reason == "system message":
            self._stats.stream_messages += 1
            log.warning("X stream message: %s", raw_data[:500].decode("utf-8", "replace"))
            return
        record = raw_data.rstrip(b"\r\n") + b"\n"
        if reason is None and len(record) > MAX_RECORD_BYTES:
            reason = (
                f"record is {len(record)} bytes, over Firehose's limit of {MAX_RECORD_BYTES} "
                "bytes per record"
            )
        if reason is not None:
            self._stats.dead_lettered += 1
            self._dead_letters.write(raw_data, reason)
            log.warning("dead-lettered a stream line: %s", reason)
            return
        if self._intake.accept(record) is None:
            self._stats.dropped += 1
            tweet_id = _tweet_id(record)
            reason = f"not spooled: {self._intake.full_reason or 'the streamer is stopping'}"
            self._dead_letters.write(b"", reason, tweet_id=tweet_id, size=len(record))
            if self._stats.dropped == 1 or self._stats.dropped % 1000 == 0:
                log.error(
                    "%s; %d tweet(s) dropped so far (STREAM_SPOOL_WHEN_FULL=%s), last id %s",
                    reason, self._stats.dropped, self._intake.when_full, tweet_id,
                )  # fmt: skip
            return
        self._stats.received += 1
        if self._max_tweets is not None and self._stats.received >= self._max_tweets:
            self.disconnect()

    def on_keep_alive(self) -> None:
        self._stats.keep_alives += 1

    def on_connect(self) -> None:
        self._stats.connects += 1
        log.info("connected to the filtered stream (%s)", self.base_url)

    def on_closed(self, response: requests.Response) -> None:
        if self.running:
            log.warning("X closed the stream; reconnecting")

    def on_connection_error(self) -> None:
        if not self.running:  # our own stop() shut the socket
            return
        self._stats.connection_errors += 1
        cause = sys.exc_info()[1]  # tweepy calls this from its except block
        self.last_failure = _describe(cause) if cause is not None else "connection error"
        log.warning(
            "stream connection failed (%s); tweepy reconnects with back-off",
            self.last_failure,
            extra={"fields": {"cause": self.last_failure}},
        )

    def on_request_error(self, status_code: int) -> None:
        key = str(status_code)
        self._stats.http_errors[key] = self._stats.http_errors.get(key, 0) + 1
        self.last_failure = f"HTTP {status_code}"
        if status_code in (401, 403):
            self.error = StreamAuthError(
                f"X refused the stream connection (HTTP {status_code}); check X_BEARER_TOKEN "
                "and that the app's project has filtered-stream access"
            )
            self.disconnect()
            return
        wait = "at least 60 s" if status_code in (420, 429) else "exponential back-off from 5 s"
        log.warning("stream HTTP error %d; reconnecting after %s", status_code, wait)

    def on_exception(self, exception: Exception) -> None:
        self.error = exception
        log.error("stream reader stopped: %s", exception, exc_info=exception)

    def on_disconnect(self) -> None:
        log.info("stream disconnected")


def _problem(raw: bytes) -> str | None:
    """Why a stream line cannot be stored as a tweet, or None if it can."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return f"malformed JSON: not UTF-8 ({exc})"
    except ValueError as exc:
        return f"malformed JSON: {exc}"
    if not isinstance(payload, dict):
        return f"not a JSON object but {type(payload).__name__}"
    data = payload.get("data")
    if data is None:
        return "system message" if "errors" in payload else "no 'data' object"
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        return "'data' is not a tweet object with a string 'id'"
    return None


def bounded_lines(
    response: requests.Response,
    max_bytes: int,
    on_oversized: Callable[[bytes, int], None],
    chunk_size: int = 512,
    **_: Any,
) -> Iterator[bytes]:
    """The response's lines without their `\r\n`, like requests' `iter_lines` (an empty line is
    a keep-alive), but a line longer than `max_bytes` is never held: `on_oversized(first
    bytes, total size)` is called once its newline comes (or the stream ends)."""
    buffer = bytearray()
    skipped = 0  # bytes of an oversized line seen so far; 0: not inside one
    head = b""
    for chunk in response.iter_content(chunk_size=chunk_size):
        start = 0
        while start <= len(chunk):
            newline = chunk.find(b"\n", start)
            piece = chunk[start:] if newline < 0 else chunk[start:newline]
            if skipped:
                skipped += len(piece)
            elif len(buffer) + len(piece) > max_bytes:
                head = bytes((buffer + piece[:_KEPT_HEAD_BYTES])[:_KEPT_HEAD_BYTES])
                skipped = len(buffer) + len(piece)
                buffer.clear()
            else:
                buffer += piece
            if newline < 0:
                break
            start = newline + 1
            if skipped:
                on_oversized(head, skipped)
                skipped = 0
                continue
            line = bytes(buffer).removesuffix(b"\r")
            buffer.clear()
            yield line
    if skipped:
        on_oversized(head, skipped)
    elif buffer:
        yield bytes(buffer).removesuffix(b"\r")


def _tweet_id(record: bytes) -> str | None:
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        return str(json.loads(record)["data"]["id"])
    return None


def _describe(error: BaseException) -> str:
    """The root cause of a requests/urllib3 error in a few words (e.g. 'connection refused')."""
    cause: BaseException | None = error
    for _ in range(10):  # a bounded walk down the chain of causes
        if cause is None:
            break
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused ({cause})"
        if isinstance(cause, TimeoutError | socket.timeout):
            return f"timed out ({cause})"
        cause = cause.__cause__ or cause.__context__ or _first_arg_error(cause)
    if isinstance(error, requests.ReadTimeout):
        return f"no data for the read timeout (a stall): {error}"
    return f"{type(error).__name__}: {error}"


def _first_arg_error(error: BaseException) -> BaseException | None:
    """urllib3 wraps the real error in the args of MaxRetryError/ProtocolError."""
    for arg in (*error.args, getattr(error, "reason", None)):
        if isinstance(arg, BaseException) and arg is not error:
            return arg
    return None


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket under a streaming response (urllib3 2.x), to interrupt a blocked read."""
    raw = response.raw
    connection = getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        return sock
    fp = getattr(getattr(raw, "_fp", None), "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
