"""The reply outbox: a reply is saved first, then sent by a worker, and never posted twice.

X's `POST /2/tweets` has no idempotency key, so the guarantee comes from the order of writes
and from asking X before any retry whose first try may have gone out:

1. **claim**: the worker marks the reply `sending` (attempt + 1) and commits, before calling X;
2. **send**: one `POST /2/tweets`;
3. **record**: `sent` with X's post id; `queued` again with a time (429: X's
   `x-rate-limit-reset`; a refused token: held until the account is reconnected); or `failed`
   with X's reason (a permanent refusal: the draft is kept for edit and resend).

A crash after 1 leaves the reply `sending` with no recorded outcome; so does a timeout or a 5xx
during 2, where X may have created the post. Such a reply is **uncertain**: before sending it
again the worker looks for it among the account's latest posts (a post replying to the same
tweet with the same text). Found: recorded as sent, not posted again. Not found: X never got
it, so sending is safe. A crash after X answered but before 3 is the same case. Only answers
that prove X created nothing (429, 400, 401, 403) are retried or failed without that look.
If X answers a resend with "duplicate content", the first try went out after all: the worker
looks again instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol


class ReplyStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class PostOutcome(StrEnum):
    """What one `POST /2/tweets` proved."""

    CREATED = "created"  # 201: X created the post
    RATE_LIMITED = "rate_limited"  # 429: nothing created; retry at X's reset time
    REFUSED = "refused"  # 400/403: nothing created, and trying again will not help
    DUPLICATE = "duplicate"  # 403 duplicate content: the same text went out before
    UNAUTHORIZED = "unauthorized"  # 401: the token is expired or revoked
    UNCERTAIN = "uncertain"  # 5xx, timeout, connection lost: X may have created it


@dataclass(frozen=True)
class PostResult:
    outcome: PostOutcome
    x_post_id: str | None = None
    reason: str | None = None
    retry_at: datetime | None = None


@dataclass(frozen=True)
class PostedReply:
    """One of the account's own posts, as X lists them."""

    x_post_id: str
    in_reply_to_tweet_id: str | None
    text: str


@dataclass(frozen=True)
class OutboxReply:
    id: int
    tweet_id: str
    text: str
    status: ReplyStatus
    attempts: int
    uncertain: bool  # an earlier attempt may have reached X


class OutboxStore(Protocol):
    """Where replies wait; every method commits before it returns."""

    def claim_due(self, now: datetime) -> OutboxReply | None:
        """The next queued reply due by `now`, marked `sending` with one more attempt; a reply
        left `sending` by a worker that died comes back with `uncertain` set."""

    def record_sent(self, reply_id: int, x_post_id: str, now: datetime) -> None: ...

    def record_retry(
        self, reply_id: int, not_before: datetime, reason: str, uncertain: bool
    ) -> None: ...

    def record_failed(self, reply_id: int, reason: str, now: datetime) -> None: ...


class XPoster(Protocol):
    """X's write side as the outbox needs it (user context, the connected account)."""

    def post_reply(self, text: str, in_reply_to_tweet_id: str) -> PostResult: ...

    def recent_posts(self) -> list[PostedReply]: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off for answers that may succeed later (5xx, network, a held account)."""

    first_seconds: float = 2.0
    max_seconds: float = 300.0
    held_seconds: float = 60.0  # the token was refused: look again after this long

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.max_seconds, self.first_seconds * 2 ** (attempts - 1)))


def _already_posted(reply: OutboxReply, posts: list[PostedReply]) -> PostedReply | None:
    for post in posts:
        if post.in_reply_to_tweet_id == reply.tweet_id and post.text == reply.text:
            return post
    return None


def send_next(
    store: OutboxStore,
    poster: XPoster,
    clock: Callable[[], datetime],
    policy: RetryPolicy | None = None,
) -> OutboxReply | None:
    """Claim, send and record one due reply; the reply handled, or None when none is due."""
    policy = policy or RetryPolicy()
    reply = store.claim_due(clock())
    if reply is None:
        return None
    if reply.uncertain:
        found = _already_posted(reply, poster.recent_posts())
        if found is not None:
            store.record_sent(reply.id, found.x_post_id, clock())
            return reply
    result = poster.post_reply(reply.text, reply.tweet_id)
    now = clock()
    match result.outcome:
        case PostOutcome.CREATED:
            assert result.x_post_id is not None
            store.record_sent(reply.id, result.x_post_id, now)
        case PostOutcome.DUPLICATE if reply.uncertain:
            found = _already_posted(reply, poster.recent_posts())
            if found is not None:
                store.record_sent(reply.id, found.x_post_id, now)
            else:
                store.record_failed(reply.id, result.reason or "duplicate content", now)
        case PostOutcome.REFUSED | PostOutcome.DUPLICATE:
            store.record_failed(reply.id, result.reason or "refused by X", now)
        case PostOutcome.RATE_LIMITED:
            retry_at = result.retry_at or now + policy.backoff(reply.attempts)
            reason = f"rate-limited by X until {retry_at.isoformat(timespec='seconds')}"
            store.record_retry(reply.id, max(retry_at, now), reason, uncertain=reply.uncertain)
        case PostOutcome.UNAUTHORIZED:
            reason = "the X account needs reconnecting (token expired or revoked)"
            retry_at = now + timedelta(seconds=policy.held_seconds)
            store.record_retry(reply.id, retry_at, reason, uncertain=reply.uncertain)
        case PostOutcome.UNCERTAIN:
            reason = f"X did not answer clearly ({result.reason or 'no answer'}); will check"
            store.record_retry(reply.id, now + policy.backoff(reply.attempts), reason, True)
    return reply
