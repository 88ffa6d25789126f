"""The X stand-in's behaviour, independent of HTTP: it composes the replay corpus, the rule
store, admission, faults, counters and state files, and runs the replay schedule of one
stream connection.

The corpus is replayed in created_at order at `rate` tweets/s of corpus time (every corpus
tweet takes 1/rate s whether or not it matches, like the real world passing by a filter; 0 = as
fast as possible), from `start`. The position is kept in memory and in `<state dir>/xapi-
position.json`, so a reconnecting client (or a restarted stand-in) continues where the last
connection stopped; X itself would lose the tweets of the gap unless the client asks for
backfill. When the corpus is exhausted the connection stays open with keep-alives, as X's does
when nothing matches; a stand-in started again after that replays from the start (a restart
that resumed at the end would stream nothing, silently).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tweet_triage_local.xapi.admission import Admission, Connection
from tweet_triage_local.xapi.auth import bearer_matches
from tweet_triage_local.xapi.authors import ScriptedAuthors
from tweet_triage_local.xapi.faults import FaultPlan, Faults
from tweet_triage_local.xapi.oauth import Account, AuthorizationServer, OAuthClient
from tweet_triage_local.xapi.posts import PostBook
from tweet_triage_local.xapi.replay import ReplayCorpus
from tweet_triage_local.xapi.rulestore import RuleStore, StoredRule
from tweet_triage_local.xapi.state import StandInError, StateFiles, Stats

log = logging.getLogger(__name__)

BATCH = 2000  # corpus tweets scanned per write when replaying as fast as possible
MALFORMED_LINE = b'{"data":{"id":"0","text":"this line was cut off by the stand-in'
POSITION_FILE = "xapi-position.json"
DEFAULT_CLIENT_ID = "tweet-triage-local"


class StandIn:
    """The stand-in's state and behaviour (the HTTP handler is a thin shell over it)."""

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
        oauth_client: OAuthClient | None = None,
        account: Account | None = None,
        authors: ScriptedAuthors | None = None,
    ) -> None:
        if not token:
            raise StandInError("the stand-in needs a bearer token: set X_BEARER_TOKEN")
        if rate < 0:
            raise StandInError(f"rate={rate}: use tweets per second > 0, or 0 for maximum")
        if keepalive_seconds <= 0:
            raise StandInError("keepalive_seconds must be > 0")
        self.corpus = ReplayCorpus(tweets)
        self.ids = self.corpus.ids
        self.token = token
        self.rate = rate
        self.keepalive_seconds = keepalive_seconds
        self.state_dir = state_dir
        self.files = StateFiles(state_dir)
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.fault_plan = FaultPlan(dict(faults or {}))
        self.stats = Stats()
        self.rule_store = RuleStore(self.files)
        self.admission = Admission()
        self.position = self._initial_position(start)
        self.oauth = AuthorizationServer(
            oauth_client or OAuthClient(DEFAULT_CLIENT_ID), self.files, account=account
        )
        self.authors = authors or ScriptedAuthors()
        self.posts = PostBook(self.files, self._lookup, on_reply=self._replied)

    @property
    def rules(self) -> dict[str, StoredRule]:
        return self.rule_store.rules

    @property
    def faults(self) -> Faults:
        return self.fault_plan.faults

    def _lookup(self, tweet_id: str) -> dict[str, Any] | None:
        return self.corpus.tweet(tweet_id) or self.authors.tweet(tweet_id)

    def _replied(self, reply: dict[str, Any], parent: Mapping[str, Any]) -> None:
        self.authors.replied(reply, dict(parent), self.oauth.account.as_json(), time.time())

    def authorised(self, header: str | None) -> bool:
        return bearer_matches(header, self.token)

    # --- position and replay settings ---------------------------------------------------
    def resolve_start(self, start: str | int) -> int:
        return self.corpus.resolve_start(start)

    def _initial_position(self, start: str | int | None) -> int:
        if start is not None:
            return self.resolve_start(start)
        saved = self.files.read(POSITION_FILE)
        if saved and saved.get("corpus_size") == len(self.ids):
            position = saved.get("position")
            if isinstance(position, int) and 0 <= position < len(self.ids):
                return position
            if position == len(self.ids):
                log.warning(
                    "the last replay reached the end of the corpus: replaying from the start "
                    "(choose another point with --start INDEX|TIME)"
                )
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
            self.fault_plan.update(dict(changes))

    def save_position(self) -> None:
        next_id = self.ids[self.position] if self.position < len(self.ids) else None
        self.files.write(
            POSITION_FILE,
            {"position": self.position, "corpus_size": len(self.ids), "next_id": next_id},
        )

    # --- rules ----------------------------------------------------------------------------
    def get_rules(self, ids: list[str] | None) -> dict[str, Any]:
        with self.lock:
            return self.rule_store.get(ids)

    def add_rules(self, additions: list[dict[str, Any]], dry_run: bool) -> dict[str, Any]:
        with self.lock:
            return self.rule_store.add(additions, dry_run)

    def delete_rules(
        self, ids: list[str] | None, values: list[str] | None, dry_run: bool
    ) -> dict[str, Any]:
        with self.lock:
            return self.rule_store.delete(ids, values, dry_run)

    # --- stream ---------------------------------------------------------------------------
    def open_stream(
        self, peer_closed: Callable[[], bool]
    ) -> Connection | tuple[int, dict[str, Any]]:
        """Admit a stream connection, or the (status, body) X would refuse it with."""
        with self.lock:
            return self.admission.admit(
                peer_closed,
                has_rules=bool(self.rule_store),
                faults=self.fault_plan,
                stats=self.stats,
            )

    def close_stream(self, connection: Connection) -> None:
        with self.lock:
            self.admission.release(connection)
            self.save_position()

    def run_stream(
        self,
        connection: Connection,
        write: Callable[[bytes], None],
        fields: frozenset[str],
        expand_authors: bool = False,
    ) -> str:
        """Replay to one connection until it ends; returns why it ended."""
        sent_here = 0
        epoch_start, epoch_position, epoch_rate = time.monotonic(), self.position, self.rate
        expected_position = self.position
        last_write = last_save = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            with self.lock:
                if self.admission.active is not connection:
                    return "replaced by a newer connection"
                if self.position != expected_position or self.rate != epoch_rate:
                    # moved or re-timed through the control endpoint: restart the schedule
                    epoch_start, epoch_position, epoch_rate = now, self.position, self.rate
                position, total = self.position, len(self.ids)
                stop = min(total, position + BATCH)
                if self.rate > 0:
                    stop = min(stop, epoch_position + int((now - epoch_start) * self.rate) + 1)
                budget = self.fault_plan.budget(sent_here)
                if budget == 0 or stop <= position:
                    lines, ids, end = [], [], position
                else:
                    lines, ids, end = self.corpus.collect(
                        self.rules.values(), position, stop, budget, fields, expand_authors
                    )
                for tweet, author in self.authors.due(time.time()):
                    line = self.corpus.line(
                        tweet, author, self.rules.values(), fields, expand_authors
                    )
                    if line is not None:
                        lines.append(line)
                        ids.append(tweet["id"])
            if lines:
                write(b"".join(lines))
                last_write = time.monotonic()
            with self.lock:
                if self.admission.active is not connection:
                    return "replaced by a newer connection"
                self.position = expected_position = end
                self.stats.tweets_sent += len(ids)
                self.stats.ids_sent.extend(ids)
                self.fault_plan.sent(len(ids))
                sent_here += len(ids)
                if now - last_save > 2:
                    self.save_position()
                    last_save = now
                action = self.fault_plan.due(sent_here, self.stats)
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

    def _stall(self, connection: Connection) -> bool:
        """Send nothing for stall_seconds; False if the client left meanwhile."""
        deadline = time.monotonic() + self.faults.stall_seconds
        log.info("stalling for %.1f s (fault)", self.faults.stall_seconds)
        while time.monotonic() < deadline and not self.stopping.is_set():
            if connection.peer_closed() or self.admission.active is not connection:
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
                "connected": self.admission.active is not None,
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
