"""The local X API v2 filtered-stream stand-in: rules, a replayed stream, faults, counters.

It speaks X's shapes on 127.0.0.1 only:

- `GET /2/tweets/search/stream`: chunked, newline-delimited JSON (`{"data": ..., "matching_rules":
  [...]}` + `\\r\\n`), a keep-alive `\\r\\n` after `keepalive_seconds` without a tweet;
  `tweet.fields` selects the fields (default X's id, text, edit_history_tweet_ids). One connection
  at a time: a second gets 429 TooManyConnections (a first whose client has gone is replaced).
- `GET|POST /2/tweets/search/stream/rules`: add (with tag), delete by ids or values, dry_run,
  X's `meta` with `sent` and `summary`, DuplicateRule / invalid-rule errors. Adding is atomic:
  one invalid rule and nothing is created, as on X.
- Bearer auth against one token; X's 401, 400 (invalid request), 409 (no rules) bodies.

The corpus is replayed in created_at order at `rate` tweets/s of corpus time (every corpus
tweet takes 1/rate s whether or not it matches, like the real world passing by a filter; 0 = as
fast as possible), from `start`. The position is kept in memory and in `<state dir>/xapi-
position.json`, so a reconnecting client (or a restarted stand-in) continues where the last
connection stopped; X itself would lose the tweets of the gap unless the client asks for
backfill (`backfill_minutes`, accepted and validated here) or uses its recovery feature. When
the corpus is exhausted the connection stays open with keep-alives, as X's does when nothing
matches.

Faults (`Faults`, settable per run and at run time through `POST /_standin/faults`): drop the
connection after every N tweets, answer 503 or 429 to the next K connection attempts, stall
(no bytes at all, not even keep-alives) for S seconds after N more tweets, send one malformed
line after N more tweets. `GET /_standin/stats` returns the counters and every id sent, so a
test can compare what was sent with what arrived.
"""

from __future__ import annotations

import bisect
import contextlib
import hmac
import json
import logging
import os
import select
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tweet_triage.errors import TriageError
from tweet_triage_local.corpus.tweets import iso_millis, snowflake_from_ms
from tweet_triage_local.xapi import problems
from tweet_triage_local.xapi.rules import CompiledRule, RuleSyntaxError, TweetView, compile_rule

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
MAX_RULES = 1000  # X Pro
BATCH = 2000  # corpus tweets scanned per write when replaying as fast as possible
MALFORMED_LINE = b'{"data":{"id":"0","text":"this line was cut off by the stand-in'
POSITION_FILE = "xapi-position.json"
RULES_FILE = "xapi-rules.json"


class StandInError(TriageError):
    """A stand-in setting is invalid (bad start, fault spec, rate); the message says which."""


@dataclass
class Faults:
    """Injected faults. `None` / 0 means off."""

    drop_every: int | None = None  # close each connection after N tweets sent on it
    fail_status: int | None = None  # 503 or 429 ...
    fail_count: int = 0  # ... for the next K connection attempts
    stall_after: int | None = None  # once: after N more tweets, send nothing ...
    stall_seconds: float = 0.0  # ... for S seconds
    malformed_after: int | None = None  # once: after N more tweets, one malformed line

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial change (JSON from the control endpoint or CLI), validating it."""
        unknown = set(changes) - set(asdict(self))
        if unknown:
            raise StandInError(f"unknown fault setting(s) {sorted(unknown)}; use {_FAULT_KEYS}")
        merged = {**asdict(self), **changes}
        for key in ("drop_every", "stall_after", "malformed_after"):
            merged[key] = _optional_count(key, merged[key])
        merged["fail_count"] = _optional_count("fail_count", merged["fail_count"]) or 0
        if merged["fail_status"] not in (None, 429, 503):
            raise StandInError(f"fail_status={merged['fail_status']!r}: use 503 or 429")
        if merged["fail_count"] and merged["fail_status"] is None:
            raise StandInError("fail_count needs fail_status (503 or 429)")
        try:
            merged["stall_seconds"] = float(merged["stall_seconds"])
        except (TypeError, ValueError) as exc:
            raise StandInError(f"stall_seconds={merged['stall_seconds']!r}: not a number") from exc
        if merged["stall_seconds"] < 0:
            raise StandInError("stall_seconds must be >= 0")
        if merged["stall_after"] is not None and merged["stall_seconds"] == 0:
            raise StandInError("stall_after needs stall_seconds > 0")
        for key, value in merged.items():
            setattr(self, key, value)


_FAULT_KEYS = ", ".join(Faults.__dataclass_fields__)


def _optional_count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise StandInError(f"{name}={value!r}: use a whole number >= 0 (or null to turn it off)")
    return value


def parse_fault_spec(spec: str) -> dict[str, Any]:
    """CLI fault syntax -> Faults fields.

    `drop-every=N`, `fail=503:K` (or `fail=429:K`; K defaults to 1), `stall=N:S` (after N tweets,
    S seconds), `malformed-after=N`.
    """
    name, _, value = spec.partition("=")
    try:
        if name == "drop-every":
            return {"drop_every": int(value)}
        if name == "fail":
            status, _, count = value.partition(":")
            return {"fail_status": int(status), "fail_count": int(count or 1)}
        if name == "stall":
            after, _, seconds = value.partition(":")
            return {"stall_after": int(after), "stall_seconds": float(seconds)}
        if name == "malformed-after":
            return {"malformed_after": int(value)}
    except ValueError as exc:
        raise StandInError(f"--fault {spec!r}: {exc}; see tweet-triage xapi serve --help") from exc
    raise StandInError(
        f"--fault {spec!r} is not a fault; use drop-every=N, fail=503:K, fail=429:K, "
        "stall=N:SECONDS or malformed-after=N"
    )


@dataclass
class Stats:
    tweets_sent: int = 0
    connections: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    drops: int = 0
    stalls: int = 0
    malformed_lines: int = 0
    keepalives: int = 0
    ids_sent: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


@dataclass(frozen=True)
class StoredRule:
    id: str
    value: str
    tag: str | None
    compiled: CompiledRule

    def as_json(self) -> dict[str, str]:
        body = {"id": self.id, "value": self.value}
        if self.tag is not None:
            body["tag"] = self.tag
        return body


class _Connection:
    """One live stream connection; `peer_closed` tells whether its client has gone."""

    def __init__(self, peer_closed: Callable[[], bool]) -> None:
        self.peer_closed = peer_closed


class StandIn:
    """The stand-in's state and behaviour, independent of HTTP (the handler is a thin shell)."""

    def __init__(
        self,
        tweets: Iterable[Mapping[str, Any]],
        *,
        token: str,
        rate: float = 0.0,
        start: str | int | None = None,
        state_dir: Path | None = None,
        keepalive_seconds: float = 10.0,
        faults: Mapping[str, Any] | None = None,
    ) -> None:
        if not token:
            raise StandInError("the stand-in needs a bearer token: set X_BEARER_TOKEN")
        if rate < 0:
            raise StandInError(f"rate={rate}: use tweets per second > 0, or 0 for maximum")
        if keepalive_seconds <= 0:
            raise StandInError("keepalive_seconds must be > 0")
        ordered = sorted(tweets, key=lambda t: (t["created_at"], int(t["id"])))
        # Only what replay needs is kept (the Tweet dicts themselves would double the memory).
        self.ids: list[str] = [t["id"] for t in ordered]
        self._created_at: list[str] = [t["created_at"] for t in ordered]
        self.views = [TweetView.from_tweet(t) for t in ordered]
        self.token = token
        self.rate = rate
        self.keepalive_seconds = keepalive_seconds
        self.state_dir = state_dir
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.faults = Faults()
        self.faults.update(faults or {})
        self.stats = Stats()
        self.rules: dict[str, StoredRule] = {}
        self._rule_sequence = 0
        self._active: _Connection | None = None
        # Every field of every tweet JSON-encoded once, so a stream line is only concatenation.
        self._fragments = [
            {key: _json_bytes(key) + b":" + _json_bytes(value) for key, value in t.items()}
            for t in ordered
        ]
        self._rules_json: dict[tuple[str, ...], bytes] = {}
        self._stall_left: int | None = self.faults.stall_after
        self._malformed_left: int | None = self.faults.malformed_after
        self._load_rules()
        self.position = self._initial_position(start)

    # --- position -------------------------------------------------------------------------
    def resolve_start(self, start: str | int) -> int:
        """An index into the replay order, or the first tweet created at/after a time."""
        if isinstance(start, int) or (isinstance(start, str) and start.strip().isdigit()):
            index = int(start)
            if not 0 <= index <= len(self.ids):
                raise StandInError(
                    f"start={start}: the corpus has {len(self.ids)} tweets; use 0.."
                    f"{len(self.ids)} or a created_at time such as 2013-01-01T00:00:00Z"
                )
            return index
        try:
            moment = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        except ValueError as exc:
            raise StandInError(
                f"start={start!r} is neither a tweet index nor an ISO time such as "
                "2013-01-01 or 2013-01-01T12:00:00Z"
            ) from exc
        if moment.tzinfo is None:  # X's times are UTC; so is a time given without a zone
            moment = moment.replace(tzinfo=UTC)
        return bisect.bisect_left(self._created_at, iso_millis(moment))

    def _initial_position(self, start: str | int | None) -> int:
        if start is not None:
            return self.resolve_start(start)
        saved = self._read_state(POSITION_FILE)
        if saved and saved.get("corpus_size") == len(self.ids):
            position = saved.get("position")
            if isinstance(position, int) and 0 <= position <= len(self.ids):
                return position
        return 0

    def set_replay(self, changes: Mapping[str, Any]) -> None:
        """Control endpoint: move the position, change the rate or keep-alive, reset counters."""
        unknown = set(changes) - {"start", "rate", "keepalive_seconds", "reset_stats"}
        if unknown:
            raise StandInError(
                f"unknown replay setting(s) {sorted(unknown)}; use start, rate, "
                "keepalive_seconds, reset_stats"
            )
        with self.lock:
            if "start" in changes:
                self.position = self.resolve_start(changes["start"])
            if "rate" in changes:
                rate = float(changes["rate"])
                if rate < 0:
                    raise StandInError("rate must be >= 0")
                self.rate = rate
            if "keepalive_seconds" in changes:
                keepalive = float(changes["keepalive_seconds"])
                if keepalive <= 0:
                    raise StandInError("keepalive_seconds must be > 0")
                self.keepalive_seconds = keepalive
            if changes.get("reset_stats"):
                self.stats = Stats()
            self.save_position()

    def set_faults(self, changes: Mapping[str, Any]) -> None:
        with self.lock:
            self.faults.update(changes)
            if "stall_after" in changes:
                self._stall_left = self.faults.stall_after
            if "malformed_after" in changes:
                self._malformed_left = self.faults.malformed_after

    def save_position(self) -> None:
        next_id = self.ids[self.position] if self.position < len(self.ids) else None
        self._write_state(
            POSITION_FILE,
            {"position": self.position, "corpus_size": len(self.ids), "next_id": next_id},
        )

    # --- state files ----------------------------------------------------------------------
    def _read_state(self, name: str) -> Any:
        if self.state_dir is None:
            return None
        path = self.state_dir / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("ignoring unreadable %s (%s)", path, exc)
            return None

    def _write_state(self, name: str, payload: Any) -> None:
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=self.state_dir, prefix=f".{name}.")
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file)
        os.replace(temporary, self.state_dir / name)

    def _load_rules(self) -> None:
        for saved in self._read_state(RULES_FILE) or []:
            try:
                compiled = compile_rule(saved["value"])
            except (RuleSyntaxError, KeyError, TypeError):
                log.warning("dropping unusable saved rule %r", saved)
                continue
            rule = StoredRule(str(saved["id"]), saved["value"], saved.get("tag"), compiled)
            self.rules[rule.id] = rule

    def _save_rules(self) -> None:
        self._write_state(RULES_FILE, [r.as_json() for r in self.rules.values()])

    # --- rules ----------------------------------------------------------------------------
    def _new_rule_id(self) -> str:
        self._rule_sequence += 1
        return str(snowflake_from_ms(int(time.time() * 1000), self._rule_sequence))

    def get_rules(self, ids: list[str] | None) -> dict[str, Any]:
        with self.lock:
            rules = [r for r in self.rules.values() if ids is None or r.id in ids]
        body: dict[str, Any] = {}
        if rules:
            body["data"] = [r.as_json() for r in rules]
        body["meta"] = {"sent": problems.now_iso(), "result_count": len(rules)}
        return body

    def add_rules(self, additions: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        """X's add: validate every rule; create all of them or, if any is invalid, none."""
        errors: list[dict[str, Any]] = []
        accepted: list[StoredRule] = []
        with self.lock:
            existing = {r.value: r.id for r in self.rules.values()}
            for addition in additions:
                value, tag = addition.get("value"), addition.get("tag")
                if value in existing:
                    errors.append(problems.duplicate_rule(value, existing[value]))
                    continue
                try:
                    compiled = compile_rule(value)
                except RuleSyntaxError as exc:
                    errors.append(problems.invalid_rule(str(value), exc.detail))
                    continue
                rule = StoredRule(self._new_rule_id(), value, tag, compiled)
                existing[value] = rule.id
                accepted.append(rule)
            if not errors and len(self.rules) + len(accepted) > MAX_RULES:
                errors.append(problems.rule_cap(MAX_RULES))
            created = [] if errors else accepted
            if created and not dry_run:
                for rule in created:
                    self.rules[rule.id] = rule
                self._save_rules()
        body: dict[str, Any] = {}
        if created:
            body["data"] = [r.as_json() for r in created]
        body["meta"] = {
            "sent": problems.now_iso(),
            "summary": {
                "created": len(created),
                "not_created": len(additions) - len(created),
                "valid": len(accepted),
                "invalid": len(additions) - len(accepted),
            },
        }
        if errors:
            body["errors"] = errors
        return body

    def delete_rules(
        self, ids: list[str] | None, values: list[str] | None, dry_run: bool
    ) -> dict[str, Any]:
        with self.lock:
            by_value = {r.value: r.id for r in self.rules.values()}
            wanted = list(ids or []) + [by_value.get(v, v) for v in values or []]
            found = [i for i in wanted if i in self.rules]
            missing = [i for i in wanted if i not in self.rules]
            if found and not dry_run:
                for rule_id in found:
                    del self.rules[rule_id]
                self._save_rules()
        body: dict[str, Any] = {
            "meta": {
                "sent": problems.now_iso(),
                "summary": {"deleted": len(found), "not_deleted": len(missing)},
            }
        }
        if missing:
            body["errors"] = [problems.rule_not_found(i) for i in missing]
        return body

    # --- stream ---------------------------------------------------------------------------
    def open_stream(
        self, peer_closed: Callable[[], bool]
    ) -> _Connection | tuple[int, dict[str, Any]]:
        """Admit a stream connection, or the (status, body) X would refuse it with."""
        with self.lock:
            if self.faults.fail_count > 0 and self.faults.fail_status is not None:
                self.faults.fail_count -= 1
                status = self.faults.fail_status
                self.stats.refuse(f"fault_{status}")
                body = problems.service_unavailable()
                if status == 429:
                    body = problems.too_many_requests()
                return status, body
            if not self.rules:
                self.stats.refuse("no_rules")
                return 409, problems.no_rules()
            if self._active is not None:
                if not self._active.peer_closed():
                    self.stats.refuse("too_many_connections")
                    return 429, problems.too_many_connections()
                log.info("previous stream client has gone; replacing its connection")
            connection = _Connection(peer_closed)
            self._active = connection
            self.stats.connections += 1
            return connection

    def close_stream(self, connection: _Connection) -> None:
        with self.lock:
            if self._active is connection:
                self._active = None
            self.save_position()

    def _encoded_data(self, index: int, fields: frozenset[str]) -> bytes:
        fragments = self._fragments[index]
        return b"{" + b",".join(v for k, v in fragments.items() if k in fields) + b"}"

    def _matching_rules_json(self, matched: tuple[StoredRule, ...]) -> bytes:
        key = tuple(r.id for r in matched)
        encoded = self._rules_json.get(key)
        if encoded is None:
            encoded = _json_bytes([{"id": r.id, "tag": r.tag or ""} for r in matched])
            self._rules_json[key] = encoded
        return encoded

    def _collect(
        self, start: int, stop: int, budget: int | None, fields: frozenset[str]
    ) -> tuple[list[bytes], list[str], int]:
        """Lines for the matching tweets in [start, stop), at most `budget`; (lines, ids, end)."""
        rules = [(rule, rule.compiled.predicate) for rule in self.rules.values()]
        views, ids_by_index = self.views, self.ids
        limit = stop - start if budget is None else budget
        lines: list[bytes] = []
        ids: list[str] = []
        index = start
        while index < stop and len(lines) < limit:
            view = views[index]
            matched = tuple([rule for rule, predicate in rules if predicate(view)])
            if matched:
                lines.append(
                    b'{"data":'
                    + self._encoded_data(index, fields)
                    + b',"matching_rules":'
                    + self._matching_rules_json(matched)
                    + b"}\r\n"
                )
                ids.append(ids_by_index[index])
            index += 1
        return lines, ids, index

    def _fault_budget(self, sent_here: int) -> int | None:
        limits = [
            limit
            for limit in (
                None if self.faults.drop_every is None else self.faults.drop_every - sent_here,
                self._stall_left,
                self._malformed_left,
            )
            if limit is not None
        ]
        return max(0, min(limits)) if limits else None

    def run_stream(
        self, connection: _Connection, write: Callable[[bytes], None], fields: frozenset[str]
    ) -> str:
        """Replay to one connection until it ends; returns why it ended."""
        sent_here = 0
        epoch_start, epoch_position, epoch_rate = time.monotonic(), self.position, self.rate
        expected_position = self.position
        last_write = last_save = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            with self.lock:
                if self._active is not connection:
                    return "replaced by a newer connection"
                if self.position != expected_position or self.rate != epoch_rate:
                    # moved or re-timed through the control endpoint: restart the schedule
                    epoch_start, epoch_position, epoch_rate = now, self.position, self.rate
                position, total = self.position, len(self.ids)
                stop = min(total, position + BATCH)
                if self.rate > 0:
                    stop = min(stop, epoch_position + int((now - epoch_start) * self.rate) + 1)
                budget = self._fault_budget(sent_here)
                if budget == 0 or stop <= position:
                    lines, ids, end = [], [], position
                else:
                    lines, ids, end = self._collect(position, stop, budget, fields)
            if lines:
                write(b"".join(lines))
                last_write = time.monotonic()
            with self.lock:
                if self._active is not connection:
                    return "replaced by a newer connection"
                self.position = expected_position = end
                self.stats.tweets_sent += len(ids)
                self.stats.ids_sent.extend(ids)
                if self._stall_left is not None:
                    self._stall_left -= len(ids)
                if self._malformed_left is not None:
                    self._malformed_left -= len(ids)
                sent_here += len(ids)
                if now - last_save > 2:
                    self.save_position()
                    last_save = now
                action = self._due_fault(sent_here)
            if action == "drop":
                return f"dropped after {sent_here} tweets (fault drop_every)"
            if action == "stall":
                if not self._stall(connection):
                    return "client went away during a stall"
                epoch_start, epoch_position = time.monotonic(), self.position  # no catch-up burst
                last_write = time.monotonic()
                continue
            if action == "malformed":
                write(MALFORMED_LINE + b"\r\n")
                last_write = time.monotonic()
                continue
            if time.monotonic() - last_write >= self.keepalive_seconds:
                write(b"\r\n")
                last_write = time.monotonic()
                with self.lock:
                    self.stats.keepalives += 1
            if end > position:
                continue  # more may be due right away
            if connection.peer_closed():
                return "client closed the connection"
            self._idle_wait(end, total, epoch_start, epoch_position, last_write)
        return "stand-in shutting down"

    def _due_fault(self, sent_here: int) -> str | None:
        """Which fault fires now (called under the lock), updating its counters."""
        if self.faults.drop_every is not None and sent_here >= self.faults.drop_every:
            self.stats.drops += 1
            return "drop"
        if self._stall_left is not None and self._stall_left <= 0:
            self._stall_left = None
            self.faults.stall_after = None
            self.stats.stalls += 1
            return "stall"
        if self._malformed_left is not None and self._malformed_left <= 0:
            self._malformed_left = None
            self.faults.malformed_after = None
            self.stats.malformed_lines += 1
            return "malformed"
        return None

    def _stall(self, connection: _Connection) -> bool:
        """Send nothing for stall_seconds; False if the client left meanwhile."""
        deadline = time.monotonic() + self.faults.stall_seconds
        log.info("stalling for %.1f s (fault)", self.faults.stall_seconds)
        while time.monotonic() < deadline and not self.stopping.is_set():
            if connection.peer_closed() or self._active is not connection:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
        return True

    def _idle_wait(
        self, end: int, total: int, epoch_start: float, epoch_position: int, last_write: float
    ) -> None:
        wake = last_write + self.keepalive_seconds
        if self.rate > 0 and end < total:
            wake = min(wake, epoch_start + (end - epoch_position) / self.rate)
        self.stopping.wait(min(0.25, max(0.0, wake - time.monotonic())))

    def stats_json(self, include_ids: bool = True) -> dict[str, Any]:
        with self.lock:
            body: dict[str, Any] = {
                "tweets_sent": self.stats.tweets_sent,
                "connections": self.stats.connections,
                "connected": self._active is not None,
                "refused": dict(self.stats.refused),
                "drops": self.stats.drops,
                "stalls": self.stats.stalls,
                "malformed_lines": self.stats.malformed_lines,
                "keepalives": self.stats.keepalives,
                "position": self.position,
                "corpus_size": len(self.ids),
                "exhausted": self.position >= len(self.ids),
                "rate": self.rate,
                "keepalive_seconds": self.keepalive_seconds,
                "rules": len(self.rules),
                "faults": asdict(self.faults),
            }
            if include_ids:
                body["ids_sent"] = list(self.stats.ids_sent)
        return body

    def authorised(self, header: str | None) -> bool:
        expected = f"Bearer {self.token}".encode()
        return hmac.compare_digest((header or "").encode(), expected)


# --- HTTP ------------------------------------------------------------------------------------
def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


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


class _Handler(BaseHTTPRequestHandler):
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
            reason = self.standin.run_stream(admitted, write_chunk, fields)
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
