"""In-memory stand-ins for the outbox's store and clock (unit tests only)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from tweet_triage.live.replies.outbox import OutboxReply, ReplyStatus

START = datetime(2021, 12, 25, 12, 0, tzinfo=UTC)


class Crash(Exception):
    """The worker process dies here."""


class FakeClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Row:
    reply: OutboxReply
    not_before: datetime = START
    x_post_id: str | None = None
    error: str | None = None


@dataclass
class MemoryStore:
    """What the SQL store does, in memory: every method 'commits' at once."""

    rows: dict[int, Row] = field(default_factory=dict)
    crash_before_recording: bool = False

    def add(self, reply_id: int, tweet_id: str, text: str) -> None:
        reply = OutboxReply(reply_id, tweet_id, text, ReplyStatus.QUEUED, 0, False)
        self.rows[reply_id] = Row(reply)

    def claim_due(self, now: datetime) -> OutboxReply | None:
        for row in self.rows.values():
            status = row.reply.status
            stale = status is ReplyStatus.SENDING  # its worker died (one worker in these tests)
            if (status is ReplyStatus.QUEUED and row.not_before <= now) or stale:
                row.reply = replace(
                    row.reply,
                    status=ReplyStatus.SENDING,
                    attempts=row.reply.attempts + 1,
                    uncertain=row.reply.uncertain or stale,
                )
                return row.reply
        return None

    def _recording(self) -> None:
        if self.crash_before_recording:
            self.crash_before_recording = False
            raise Crash("after X answered, before the answer was recorded")

    def record_sent(self, reply_id: int, x_post_id: str, now: datetime) -> None:
        self._recording()
        row = self.rows[reply_id]
        row.reply = replace(row.reply, status=ReplyStatus.SENT, uncertain=False)
        row.x_post_id = x_post_id

    def record_retry(
        self, reply_id: int, not_before: datetime, reason: str, uncertain: bool
    ) -> None:
        self._recording()
        row = self.rows[reply_id]
        row.reply = replace(row.reply, status=ReplyStatus.QUEUED, uncertain=uncertain)
        row.not_before, row.error = not_before, reason

    def record_failed(self, reply_id: int, reason: str, now: datetime) -> None:
        self._recording()
        row = self.rows[reply_id]
        row.reply = replace(row.reply, status=ReplyStatus.FAILED, uncertain=False)
        row.error = reason
