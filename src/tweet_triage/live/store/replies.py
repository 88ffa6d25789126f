"""The team's replies: queued in one transaction with the checks that keep two people from
answering the same tweet, then sent by the outbox worker (this is its `OutboxStore`), and the
response times they make.

Queuing a reply also records the strongest label the loop gets (needed us, source 'reply')
and gives the conversation to the person replying. The worker claims a reply with a lease: a
`sending` reply whose lease has passed lost its worker, so it is claimed again as uncertain
(the worker looks for it among the account's posts before sending it again).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, true, union, update
from sqlalchemy.orm import Session

from tweet_triage.data.decisions import Decision
from tweet_triage.live.replies.outbox import OutboxReply, ReplyStatus
from tweet_triage.live.replies.x_text import MAX_WEIGHTED_LENGTH, weighted_length
from tweet_triage.live.store.decisions import Decisions
from tweet_triage.live.store.errors import (
    AlreadyRepliedError,
    ReplyNotFailedError,
    ReplyTextError,
    StoreError,
    UnknownReplyError,
    UnknownSavedReplyError,
    UnknownTweetError,
)
from tweet_triage.live.store.schema import (
    Conversation,
    ConversationStatus,
    DecisionSource,
    Reply,
    SavedReply,
    ScoredTweet,
    User,
    XAccountToken,
    as_utc,
    utc_now,
)
from tweet_triage.live.store.tweets import ScoredTweets, author_answered, is_flagged, is_open
from tweet_triage.live.store.views import HourValue, ReplyView

LEASE = timedelta(seconds=60)  # a claimed reply not recorded by then lost its worker
CLAIM_TRIES = 3  # another worker won the reply just picked: look for the next one
WAITING = (ConversationStatus.OPEN.value, ConversationStatus.ASSIGNED.value)


def check_reply_text(text: str) -> str:
    """The text X will get, or ReplyTextError with its weighted count and the limit."""
    if not text.strip():
        raise ReplyTextError(0, MAX_WEIGHTED_LENGTH)
    length = weighted_length(text)
    if not length.valid:
        raise ReplyTextError(length.weighted, length.limit)
    return text


def reply_view(reply: Reply, author: str) -> ReplyView:
    return ReplyView(
        id=reply.id,
        tweet_id=reply.tweet_id,
        conversation_id=reply.conversation_id,
        status=ReplyStatus(reply.status),
        text=reply.text,
        x_post_id=reply.x_post_id,
        error=reply.error,
        author=author,
        created_at=reply.created_at,
        sent_at=reply.sent_at,
        attempts=reply.attempts,
        not_before=reply.not_before,
        saved_reply_id=reply.saved_reply_id,
    )


def replies_with_author() -> Any:
    return select(Reply, User.name).join(User, User.id == Reply.user_id)


class StoredTokenSlot:
    """The X account's sealed tokens in the store's one-row table (`TokenSlot`)."""

    def __init__(self, store: Replies) -> None:
        self._store = store

    def read(self) -> bytes | None:
        with self._store._session() as session:
            row = session.get(XAccountToken, 1)
            return None if row is None else bytes(row.sealed)

    def write(self, sealed: bytes) -> None:
        with self._store._session() as session:
            row = session.get(XAccountToken, 1, with_for_update=True)
            if row is None:
                session.add(XAccountToken(id=1, sealed=sealed, updated_at=utc_now()))
            else:
                row.sealed, row.updated_at = sealed, utc_now()

    def clear(self) -> None:
        """Forget the tokens (the account is disconnected)."""
        with self._store._session() as session:
            session.execute(delete(XAccountToken))


class Replies(ScoredTweets, Decisions):
    """The reply outbox and its figures."""

    def queue_reply(
        self,
        tweet_id: str,
        user_id: int,
        text: str,
        *,
        confirm: bool = False,
        saved_reply_id: int | None = None,
        window: timedelta,
    ) -> ReplyView:
        """Save a reply for the worker to send; the tweet is decided (needed us, by reply)
        and its conversation is given to the user.

        The tweet's row and then its conversation's are locked first (row locks on
        PostgreSQL; on SQLite the update takes the database's write lock), so of two people
        replying at once the second sees the first's reply: unless `confirm`, a reply that is
        not failed within `window` raises AlreadyRepliedError naming who replied.
        """
        check_reply_text(text)
        now = utc_now()
        with self._session() as session:
            tweet = session.get(ScoredTweet, tweet_id, with_for_update=True)
            if tweet is None:
                raise UnknownTweetError(tweet_id)
            conversation_id = tweet.conversation_id or tweet.id
            conversation = self._locked_conversation(session, tweet, now)
            if not confirm:
                earlier = session.execute(
                    replies_with_author()
                    .where(
                        Reply.tweet_id == tweet_id,
                        Reply.status != ReplyStatus.FAILED.value,
                        Reply.created_at >= now - window,
                    )
                    .order_by(Reply.created_at.desc(), Reply.id.desc())
                    .limit(1)
                ).first()
                if earlier is not None:
                    reply, by_user = earlier
                    raise AlreadyRepliedError(by_user, reply.created_at, reply.id)
            if saved_reply_id is not None and session.get(SavedReply, saved_reply_id) is None:
                raise UnknownSavedReplyError(saved_reply_id)
            decision = self._decide(
                session, tweet_id, user_id, Decision.NEEDED_US, now, True, DecisionSource.REPLY
            )
            reply = Reply(
                tweet_id=tweet_id,
                conversation_id=conversation_id,
                user_id=user_id,
                text=text,
                status=ReplyStatus.QUEUED.value,
                attempts=0,
                uncertain=False,
                not_before=now,
                saved_reply_id=saved_reply_id,
                created_at=now,
                updated_at=now,
            )
            session.add(reply)
            conversation.assignee_id = user_id
            if conversation.status != ConversationStatus.REPLIED.value:
                conversation.status = ConversationStatus.ASSIGNED.value
            conversation.resolved_at = None
            conversation.author_id = tweet.author_id or conversation.author_id
            session.flush()
            return reply_view(reply, decision.user_name)

    @staticmethod
    def _locked_conversation(session: Session, tweet: ScoredTweet, now: datetime) -> Conversation:
        """The tweet's conversation, written first so the transaction holds its lock."""
        conversation_id = tweet.conversation_id or tweet.id
        touched = session.execute(
            update(Conversation).where(Conversation.id == conversation_id).values(updated_at=now)
        )
        if not touched.rowcount:  # type: ignore[attr-defined]
            session.add(
                Conversation(
                    id=conversation_id,
                    status=ConversationStatus.OPEN.value,
                    author_id=tweet.author_id,
                    opened_at=tweet.arrived_at,
                    updated_at=now,
                )
            )
            session.flush()
        conversation = session.get(Conversation, conversation_id, populate_existing=True)
        assert conversation is not None
        return conversation

    def reply(self, reply_id: int) -> ReplyView:
        with self._session() as session:
            row = session.execute(replies_with_author().where(Reply.id == reply_id)).first()
            if row is None:
                raise UnknownReplyError(reply_id)
            return reply_view(*row)

    def replies_for(self, tweet_id: str) -> list[ReplyView]:
        """The team's replies to a tweet, oldest first."""
        query = (
            replies_with_author()
            .where(Reply.tweet_id == tweet_id)
            .order_by(Reply.created_at, Reply.id)
        )
        with self._session() as session:
            return [reply_view(*row) for row in session.execute(query)]

    def resend_reply(self, reply_id: int, user_id: int, text: str) -> ReplyView:
        """A failed reply, edited by `user_id`, queued again from its first try."""
        check_reply_text(text)
        now = utc_now()
        with self._session() as session:
            reply = session.get(Reply, reply_id, with_for_update=True)
            if reply is None:
                raise UnknownReplyError(reply_id)
            if reply.status != ReplyStatus.FAILED.value:
                raise ReplyNotFailedError(reply_id, reply.status)
            user = session.get(User, user_id)
            if user is None:
                raise StoreError(f"no user with id {user_id}")
            reply.text, reply.user_id = text, user_id
            reply.status, reply.error = ReplyStatus.QUEUED.value, None
            reply.attempts, reply.uncertain = 0, False
            reply.not_before, reply.lease_until, reply.updated_at = now, None, now
            return reply_view(reply, user.name)

    def reply_examples(self, limit: int = 5000) -> list[tuple[str, int]]:
        """(replied-to tweet's text, saved reply id) of the replies made with a saved reply
        that X did not refuse, oldest first: what the suggester learns from."""
        query = (
            select(ScoredTweet.text, Reply.saved_reply_id)
            .join(ScoredTweet, ScoredTweet.id == Reply.tweet_id)
            .where(Reply.saved_reply_id.is_not(None), Reply.status != ReplyStatus.FAILED.value)
            .order_by(Reply.created_at, Reply.id)
            .limit(limit)
        )
        with self._session() as session:
            return [(text, int(saved)) for text, saved in session.execute(query)]

    # The outbox worker's side (replies.outbox.OutboxStore); each call commits.

    def claim_due(self, now: datetime) -> OutboxReply | None:
        """The next reply due by `now`, marked `sending` with one more attempt and a lease; a
        `sending` reply whose lease has passed comes back with `uncertain` set."""
        now = as_utc(now)
        due = ((Reply.status == ReplyStatus.QUEUED.value) & (Reply.not_before <= now)) | (
            (Reply.status == ReplyStatus.SENDING.value) & (Reply.lease_until <= now)
        )
        for _ in range(CLAIM_TRIES):
            pick = select(Reply.id).where(due).order_by(Reply.not_before, Reply.id).limit(1)
            if self.dialect == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            with self._session() as session:
                reply_id = session.scalar(pick)
                if reply_id is None:
                    return None
                stale = Reply.status == ReplyStatus.SENDING.value
                claimed = session.execute(
                    update(Reply)
                    .where(Reply.id == reply_id, due)
                    .values(
                        status=ReplyStatus.SENDING.value,
                        attempts=Reply.attempts + 1,
                        uncertain=case((stale, true()), else_=Reply.uncertain),
                        lease_until=now + LEASE,
                        updated_at=now,
                    )
                )
                if not claimed.rowcount:  # type: ignore[attr-defined]
                    continue  # another worker claimed it between the look and the update
                reply = session.get(Reply, reply_id, populate_existing=True)
                assert reply is not None
                return OutboxReply(
                    reply.id,
                    reply.tweet_id,
                    reply.text,
                    ReplyStatus.SENDING,
                    reply.attempts,
                    reply.uncertain,
                )
        return None

    def record_sent(self, reply_id: int, x_post_id: str, now: datetime) -> None:
        """X created the post: the reply is sent, its conversation waits on the author, and
        its first response is now if it had none."""
        now = as_utc(now)
        with self._session() as session:
            reply = session.get(Reply, reply_id, with_for_update=True)
            if reply is None:
                raise UnknownReplyError(reply_id)
            reply.status, reply.x_post_id = ReplyStatus.SENT.value, x_post_id
            reply.sent_at, reply.error, reply.uncertain = now, None, False
            reply.lease_until, reply.updated_at = None, now
            session.execute(
                update(Conversation)
                .where(Conversation.id == reply.conversation_id)
                .values(
                    status=ConversationStatus.REPLIED.value,
                    first_response_at=func.coalesce(Conversation.first_response_at, now),
                    resolved_at=None,
                    updated_at=now,
                )
            )

    def record_retry(
        self, reply_id: int, not_before: datetime, reason: str, uncertain: bool
    ) -> None:
        """Back in the queue until `not_before`, with why (shown on the tweet)."""
        self._record(
            reply_id,
            status=ReplyStatus.QUEUED.value,
            not_before=as_utc(not_before),
            error=reason,
            uncertain=uncertain,
            lease_until=None,
            updated_at=utc_now(),
        )

    def record_failed(self, reply_id: int, reason: str, now: datetime) -> None:
        """X refused it for good: the draft stays, with X's reason, for edit and resend."""
        self._record(
            reply_id,
            status=ReplyStatus.FAILED.value,
            error=reason,
            uncertain=False,
            lease_until=None,
            updated_at=as_utc(now),
        )

    def _record(self, reply_id: int, **values: Any) -> None:
        with self._session() as session:
            done = session.execute(update(Reply).where(Reply.id == reply_id).values(**values))
            if not done.rowcount:  # type: ignore[attr-defined]
                raise UnknownReplyError(reply_id)

    def x_token_slot(self) -> StoredTokenSlot:
        """Where the X account's sealed tokens live (`x_account.TokenSlot`, plus `clear`)."""
        return StoredTokenSlot(self)

    # Figures: delivery, first responses, the SLA and who replied.

    def reply_counts(self) -> dict[ReplyStatus, int]:
        """Replies per status (every status, 0 where none)."""
        query = select(Reply.status, func.count()).group_by(Reply.status)
        with self._session() as session:
            counts = {ReplyStatus(status): int(n) for status, n in session.execute(query)}
        return {status: counts.get(status, 0) for status in ReplyStatus}

    def first_response_times(self, since: datetime | None = None) -> list[float]:
        """Seconds from each conversation's first tweet to the team's first sent reply, for
        the conversations first answered since `since` (all of them without it)."""
        return [seconds for _at, seconds in self._first_responses(since)]

    def first_response_by_hour(self, since: datetime) -> list[HourValue]:
        """The median first-response time and count per hour of the first response."""
        hours: dict[datetime, list[float]] = defaultdict(list)
        for at, seconds in self._first_responses(since):
            hours[at.replace(minute=0, second=0, microsecond=0)].append(seconds)
        return [
            HourValue(hour, float(statistics.median(values)), len(values))
            for hour, values in sorted(hours.items())
        ]

    def resolution_times(self, since: datetime | None = None) -> list[float]:
        """Seconds from each resolved conversation's first tweet to its resolution, for those
        resolved since `since` (all of them without it); a reopened one counts once resolved
        again."""
        resolved = Conversation.resolved_at
        query = select(resolved, Conversation.opened_at).where(resolved.is_not(None))
        if since is not None:
            query = query.where(resolved >= as_utc(since))
        with self._session() as session:
            return [
                max(0.0, (at - opened).total_seconds()) for at, opened in session.execute(query)
            ]

    def _first_responses(self, since: datetime | None) -> list[tuple[datetime, float]]:
        first = Conversation.first_response_at
        query = select(first, Conversation.opened_at).where(first.is_not(None)).order_by(first)
        if since is not None:
            query = query.where(first >= as_utc(since))
        with self._session() as session:
            return [
                (at, max(0.0, (at - opened).total_seconds()))
                for at, opened in session.execute(query)
            ]

    def sla_breaches(self, sla: timedelta, now: datetime, *, since: datetime | None = None) -> int:
        """Conversations past the SLA: those waiting on the team (open or assigned, with a
        tweet in the queue) since longer than `sla`, plus those whose first response took
        longer than `sla` (first answered since `since`, all without it)."""
        now = as_utc(now)
        # The flagged open tweets and the authors' open answers, each from its own partial
        # index (an OR of the two would read every tweet older than the SLA).
        late_tweets = union(
            *(
                select(ScoredTweet.conversation_id).where(
                    kind, is_open(), ScoredTweet.arrived_at < now - sla
                )
                for kind in (is_flagged(), author_answered())
            )
        ).subquery()
        waiting = (
            select(func.count())
            .select_from(late_tweets)
            .join(Conversation, Conversation.id == late_tweets.c.conversation_id)
            .where(Conversation.status.in_(WAITING))
        )
        first = Conversation.first_response_at
        took = self._seconds_between(Conversation.opened_at, first)
        late = select(func.count()).where(first.is_not(None), took > sla.total_seconds())
        if since is not None:
            late = late.where(first >= as_utc(since))
        with self._session() as session:
            return int(session.scalar(waiting) or 0) + int(session.scalar(late) or 0)

    def replies_per_person(self, since: datetime | None = None) -> dict[str, int]:
        """Sent replies per teammate since `since` (all without it), most first."""
        query = (
            select(User.name, func.count())
            .join(Reply, Reply.user_id == User.id)
            .where(Reply.status == ReplyStatus.SENT.value)
            .group_by(User.name)
            .order_by(func.count().desc(), User.name)
        )
        if since is not None:
            query = query.where(Reply.sent_at >= as_utc(since))
        with self._session() as session:
            return {name: int(n) for name, n in session.execute(query)}
