"""The outbox worker: sends the queued replies to X, one at a time, until told to stop.

Each turn is `replies.outbox.send_next` (claim, post, record; crash-safe on its own). With
nothing due the worker sleeps `TRIAGE_OUTBOX_POLL_SECONDS`; SIGTERM lets the turn in progress
finish and then ends the loop, so a reply is never left half-recorded by a clean stop (and a
killed worker leaves at most one reply `sending`, which its lease hands back as uncertain).

An error that a later turn may not meet (the store or X unreachable, the account's tokens
unreadable) is logged and waited out with a growing pause instead of ending the worker: the
replies stay queued and nothing is lost. The worker writes its counters to
`<state dir>/triage/outbox-stats.json` after every turn that did something and at least once
per poll, which is also how `triage-up` knows it has started.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy.exc import SQLAlchemyError

from tweet_triage.atomic_files import write_atomic
from tweet_triage.errors import TriageError
from tweet_triage.live.replies.outbox import OutboxStore, RetryPolicy, XPoster, send_next

log = logging.getLogger(__name__)

MAX_ERROR_PAUSE_SECONDS = 60.0
# Errors that say "not now" rather than "this code is wrong": the next turn tries again.
TRANSIENT_ERRORS = (TriageError, httpx.HTTPError, SQLAlchemyError, OSError)


@dataclass
class WorkerStats:
    handled: int = 0  # turns that claimed a reply (sent, retried later, or failed)
    errors: int = 0
    last_error: str | None = None
    last_turn_at: str | None = None
    started_at: str | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)


def drain(
    outbox: OutboxStore,
    poster: XPoster,
    clock: Callable[[], datetime] = utc_now,
    policy: RetryPolicy | None = None,
    limit: int = 10_000,
) -> int:
    """Handle every reply due now (at most `limit`); how many were handled."""
    handled = 0
    while handled < limit and send_next(outbox, poster, clock, policy) is not None:
        handled += 1
    return handled


class OutboxWorker:
    """The loop of `tweet-triage triage outbox run`."""

    def __init__(
        self,
        outbox: OutboxStore,
        poster: XPoster,
        *,
        poll_seconds: float,
        stop: threading.Event,
        stats_path: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.outbox = outbox
        self.poster = poster
        self.poll_seconds = poll_seconds
        self.stop = stop
        self.stats_path = stats_path
        self.clock = clock
        self.policy = policy
        self.stats = WorkerStats(started_at=clock().isoformat(timespec="seconds"))

    def turn(self) -> bool:
        """One `send_next`; True when a reply was handled (more may be due at once)."""
        reply = send_next(self.outbox, self.poster, self.clock, self.policy)
        self.stats.last_turn_at = self.clock().isoformat(timespec="seconds")
        if reply is None:
            return False
        self.stats.handled += 1
        log.info("outbox: reply %s handled (attempt %d)", reply.id, reply.attempts)
        return True

    def run(self) -> WorkerStats:
        """Until `stop` is set; the counters at the end."""
        failures = 0
        self._save()
        while not self.stop.is_set():
            try:
                busy = self.turn()
            except TRANSIENT_ERRORS as exc:
                failures += 1
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                pause = min(MAX_ERROR_PAUSE_SECONDS, self.poll_seconds * 2**failures)
                log.warning("outbox: %s; trying again in %.0f s", self.stats.last_error, pause)
                self._save()
                self.stop.wait(pause)
                continue
            failures = 0
            self._save()
            if not busy:
                self.stop.wait(self.poll_seconds)
        return self.stats

    def _save(self) -> None:
        if self.stats_path is not None:
            self.stats_path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.stats_path, json.dumps(asdict(self.stats)) + "\n")
