"""Scored tweets: the streaming scorer's upserts and the inbox's queue and tweet views.

Every tweet belongs to one conversation row (X's conversation id, or the tweet's own id), made
by the upsert. A new tweet by the author the team answered, in a conversation the team replied
to (or resolved), is the author answering: it is marked `author_replied`, goes to the top of
the queue whatever its score, and the conversation opens again.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, case, delete, exists, false, func, null, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.dml import Insert

from tweet_triage.data.decisions import Decision
from tweet_triage.live.store.engine import Database
from tweet_triage.live.store.errors import StoreError, UnknownTweetError
from tweet_triage.live.store.schema import (
    Conversation,
    ConversationStatus,
    DecisionRecord,
    Reply,
    ScoredTweet,
    TweetTag,
    User,
    as_utc,
    tweet_url,
    utc_now,
)
from tweet_triage.live.store.views import QueuePage, ScoredRecord, TweetView

QueueOrder = Literal["likely", "newest"]
QueueOwner = Literal["all", "mine", "unassigned"]
QUEUE_OWNERS: tuple[QueueOwner, ...] = ("all", "mine", "unassigned")
# The team answered these: a new tweet of their author in them is the author answering.
ANSWERED = (ConversationStatus.REPLIED.value, ConversationStatus.RESOLVED.value)
Assignee = aliased(User, name="assignee")
RULE_TAGS = "rule tags"  # their key among the store's kept values
UPSERT_PAGE = 1000  # rows per executemany: bounds memory and the IN (...) of the tag refresh


class ScoredTweets(Database):
    """The scored tweets: written by the scorer, read by the queue and the label page."""

    def upsert_scored(self, records: Iterable[ScoredRecord]) -> int:
        """Insert or replace scored tweets by id; return how many distinct tweets were written.

        One `INSERT ... ON CONFLICT DO UPDATE` run with executemany per page, so a replayed
        micro-batch changes nothing. A tweet scored again (a replay, a new model) keeps its
        first arrival time and its decisions; everything else takes the new values.
        Each new tweet's conversation is created, or opened again when the tweet is its
        author answering the team.
        """
        latest: dict[str, ScoredRecord] = {}
        for record in records:
            latest[record.id] = record
        rows = [_scored_row(r) for r in latest.values()]
        if not rows:
            return 0
        upsert = _upsert_statement(self.dialect)
        conversations = _conversation_upsert(self.dialect)
        with self._session() as session:
            connection = session.connection()
            for start in range(0, len(rows), UPSERT_PAGE):
                page = rows[start : start + UPSERT_PAGE]
                new = _new_rows(connection, page)
                _upsert_page(connection, upsert, page)
                _open_conversations(connection, conversations, new)
        self._fresh.forget(RULE_TAGS)  # a new tweet may carry a new tag
        return len(rows)

    def count_scored(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(ScoredTweet)) or 0)

    def count_flagged(self) -> int:
        with self._session() as session:
            return int(session.scalar(select(func.count()).where(is_flagged())) or 0)

    def get_tweet(self, tweet_id: str) -> TweetView:
        latest = latest_decision_of(tweet_id).limit(1).scalar_subquery()
        query = with_conversation(tweet_rows(latest)).where(ScoredTweet.id == tweet_id)
        with self._session() as session:
            views = conversation_views(session.execute(query))
        if not views:
            raise UnknownTweetError(tweet_id)
        return views[0]

    def queue(
        self,
        *,
        order: QueueOrder = "likely",
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        owner: QueueOwner = "all",
        user_id: int | None = None,
    ) -> list[TweetView]:
        """The tweets waiting for the team: first those where the author answered the team
        (newest first, flagged or not), then the flagged tweets nobody has decided on yet,
        most likely first or newest first. `owner` keeps the user's own ("mine", with
        `user_id`) or nobody's ("unassigned") conversations."""
        with self._session() as session:
            return _queue(session, order, tag, since, limit, owner, user_id)

    def queue_page(
        self,
        *,
        order: QueueOrder = "likely",
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        owner: QueueOwner = "all",
        user_id: int | None = None,
    ) -> QueuePage:
        """What the queue page shows: `queue`'s rows, the whole queue's size and the size
        with these filters, in as few reads as the filters allow (unfiltered, the two sizes
        are one count; "mine" is read and counted in one query)."""
        with self._session() as session:
            size = _queue_size(session, None, None, "all", None)
            if owner == "mine":
                tweets, filtered = _mine(session, order, tag, since, limit, user_id)
            else:
                tweets = _queue(session, order, tag, since, limit, owner, user_id)
                unfiltered = owner == "all" and not tag and since is None
                filtered = size if unfiltered else _queue_size(session, tag, since, owner, user_id)
        return QueuePage(tweets, queue_size=size, filtered_size=filtered)

    def lowest_flagged_score(self) -> float | None:
        """The lowest P(needs support) the scorer flagged: the threshold it scores at."""
        query = select(func.min(ScoredTweet.p_needs_support)).where(is_flagged())
        with self._session() as session:
            lowest = session.scalar(query)
        return None if lowest is None else float(lowest)

    def undecided(self, *, closest_to: float | None = None, limit: int = 200) -> list[TweetView]:
        """Tweets nobody has decided on (flagged or not): the scores closest to `closest_to`
        first, or a uniform random sample without it (the label page's two pools).

        Both read an index: closest first walks the scores up and down from `closest_to` and
        merges the two sides; the sample is the open tweets following a random point in the
        order of their `sample_key`.
        """
        open_tweets = tweet_rows().where(is_open())
        if closest_to is None:
            start = random.random()
            key = ScoredTweet.sample_key
            with self._session() as session:
                rows = list(
                    session.execute(open_tweets.where(key >= start).order_by(key).limit(limit))
                )
                if len(rows) < limit:  # wrap around to the start of the order
                    wrapped = open_tweets.where(key < start).order_by(key)
                    rows += session.execute(wrapped.limit(limit - len(rows)))
            return [tweet_view(row) for row in rows]
        score = ScoredTweet.p_needs_support
        above = open_tweets.where(score >= closest_to).order_by(score, ScoredTweet.id)
        below = open_tweets.where(score < closest_to).order_by(score.desc(), ScoredTweet.id)
        with self._session() as session:
            rows = [
                *session.execute(above.limit(limit)),
                *session.execute(below.limit(limit)),
            ]
        rows.sort(key=lambda row: (abs(row.p_needs_support - closest_to), row.id))
        return [tweet_view(row) for row in rows[:limit]]

    def queue_size(
        self,
        *,
        tag: str | None = None,
        since: datetime | None = None,
        owner: QueueOwner = "all",
        user_id: int | None = None,
    ) -> int:
        """How many tweets `queue` would list with these filters and no limit: the flagged
        open tweets and the authors' answers not flagged, each counted from its own partial
        index (one count of either would read every tweet)."""
        with self._session() as session:
            return _queue_size(session, tag, since, owner, user_id)

    def tweets(
        self,
        *,
        flagged: bool | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        before: str | None = None,
        after: str | None = None,
    ) -> list[TweetView]:
        """Every tweet (newest first) with its latest decision: where misses are found.

        Paged by key, not by offset: `before` (a tweet id) gives the page of tweets older
        than that one, `after` the page of newer ones (still newest first), so a page deep
        in the past costs what the first one does.
        """
        if before and after:
            raise StoreError("page the tweets with before= or after=, not both")
        latest = latest_decision_of(ScoredTweet.id).limit(1).scalar_subquery()
        query = tweet_rows(latest)
        if flagged is not None:
            query = query.where(ScoredTweet.flagged == flagged)
        query = _filtered(query, tag, since)
        arrived, tweet_id = ScoredTweet.arrived_at, ScoredTweet.id
        with self._session() as session:
            if before or after:
                key = str(before or after)
                at = session.scalar(select(arrived).where(tweet_id == key))
                if at is None:
                    raise UnknownTweetError(key)
                if before:
                    query = query.where(arrived <= at, (arrived < at) | (tweet_id < key))
                else:
                    query = query.where(arrived >= at, (arrived > at) | (tweet_id > key))
            if after:  # the newer page's oldest rows first, turned around below
                page = query.order_by(arrived, tweet_id).limit(limit)
                return conversation_views(session.execute(with_conversation(page)))[::-1]
            page = query.order_by(arrived.desc(), tweet_id.desc()).limit(limit)
            return conversation_views(session.execute(with_conversation(page)))

    def rule_tags(self) -> list[str]:
        """The distinct tags, found by hopping the tag index from one tag to the next (a
        recursive query: as many index lookups as tags, not a scan of every tweet's tags);
        kept briefly, as every queue page shows them."""

        def read() -> list[str]:
            hops = select(func.min(TweetTag.tag).label("tag")).cte("tags", recursive=True)
            after = select(func.min(TweetTag.tag)).where(TweetTag.tag > hops.c.tag)
            hops = hops.union_all(select(after.scalar_subquery()).where(hops.c.tag.is_not(None)))
            query = select(hops.c.tag).where(hops.c.tag.is_not(None)).order_by(hops.c.tag)
            with self._session() as session:
                return list(session.scalars(query))

        return list(self._fresh.get(RULE_TAGS, read))


def _queue(
    session: Session,
    order: QueueOrder,
    tag: str | None,
    since: datetime | None,
    limit: int,
    owner: QueueOwner,
    user_id: int | None,
) -> list[TweetView]:
    if owner == "mine":
        return _mine(session, order, tag, since, limit, user_id)[0]
    answered = _owned(tweet_rows().where(author_answered(), is_open()), owner, user_id)
    answered = _filtered(answered, tag, since).order_by(
        ScoredTweet.arrived_at.desc(), ScoredTweet.id.desc()
    )
    views = conversation_views(session.execute(with_conversation(answered.limit(limit))))
    if len(views) == limit:
        return views
    flagged = tweet_rows().where(is_flagged(), is_open(), ScoredTweet.author_replied == false())
    flagged = _filtered(_owned(flagged, owner, user_id), tag, since)
    rank = ScoredTweet.arrived_at if order == "newest" else ScoredTweet.p_needs_support
    rest = flagged.order_by(rank.desc(), ScoredTweet.id.desc()).limit(limit - len(views))
    return views + conversation_views(session.execute(with_conversation(rest)))


def _mine(
    session: Session,
    order: QueueOrder,
    tag: str | None,
    since: datetime | None,
    limit: int,
    user_id: int | None,
) -> tuple[list[TweetView], int]:
    """`queue` of the user's own conversations, and how many tweets it holds in all.

    A user's conversations are few, so their open tweets are read from them by index once,
    in the queue's order (the authors' answers first, newest first), and counted by a window
    over the same read rather than by the two counts of `queue_size`.
    """
    answers_first = (
        ScoredTweet.author_replied.desc(),
        case((author_answered(), ScoredTweet.arrived_at)).desc(),
    )
    rank = ScoredTweet.arrived_at if order == "newest" else ScoredTweet.p_needs_support
    mine = tweet_rows().where(is_open(), author_answered() | is_flagged())
    mine = _filtered(_owned(mine, "mine", user_id), tag, since)
    query = with_conversation(
        mine.add_columns(func.count().over().label("in_all"))
        .order_by(*answers_first, rank.desc(), ScoredTweet.id.desc())
        .limit(limit)
    )
    rows = list(session.execute(query))
    return conversation_views(rows), int(rows[0].in_all) if rows else 0


def _queue_size(
    session: Session,
    tag: str | None,
    since: datetime | None,
    owner: QueueOwner,
    user_id: int | None,
) -> int:
    flagged = select(func.count()).select_from(ScoredTweet).where(is_flagged(), is_open())
    answered = select(func.count()).select_from(ScoredTweet)
    answered = answered.where(author_answered(), is_open(), ScoredTweet.flagged == false())
    counts = [_filtered(_owned(query, owner, user_id), tag, since) for query in (flagged, answered)]
    return sum(int(session.scalar(query) or 0) for query in counts)


def tweet_rows(decision: Any = None) -> Select[Any]:
    """The tweets' columns and their latest decision (`decision`: a scalar subquery, or
    none) as plain rows: a page of views is built without an ORM object per tweet."""
    return select(
        *ScoredTweet.__table__.columns, (null() if decision is None else decision).label("decision")
    )


def with_conversation(query: Select[Any]) -> Select[Any]:
    """`query` (`tweet_rows`) with its conversation's status, assignee, first response and
    how many replies the tweet has."""
    replies = select(func.count()).where(Reply.tweet_id == ScoredTweet.id).scalar_subquery()
    return _joined(query).add_columns(
        Conversation.status.label("conversation_status"),
        Assignee.name.label("assignee"),
        Conversation.first_response_at.label("first_response_at"),
        replies.label("replies_count"),
    )


def _joined(query: Select[Any]) -> Select[Any]:
    return query.outerjoin(Conversation, Conversation.id == ScoredTweet.conversation_id).outerjoin(
        Assignee, Assignee.id == Conversation.assignee_id
    )


def conversation_views(rows: Iterable[Any]) -> list[TweetView]:
    """The views of a `with_conversation` query's rows."""
    return [
        tweet_view(
            row,
            row.decision,
            status=None
            if row.conversation_status is None
            else ConversationStatus(row.conversation_status),
            assignee=row.assignee,
            first_response_at=row.first_response_at,
            replies_count=int(row.replies_count or 0),
        )
        for row in rows
    ]


def _owned(query: Select[Any], owner: str, user_id: int | None) -> Select[Any]:
    """Only the tweets of the user's conversations ("mine") or of nobody's ("unassigned")."""
    if owner not in QUEUE_OWNERS:
        raise StoreError(f"queue owner {owner!r} is not one of {', '.join(QUEUE_OWNERS)}")
    if owner == "all":
        return query
    if owner == "mine" and user_id is None:
        raise StoreError("the queue of 'mine' needs the user's id (user_id=...)")
    owned = aliased(Conversation, name="owned")
    if owner == "mine":  # from the user's conversations (few) to their tweets, by index
        mine = select(owned.id).where(owned.assignee_id == user_id)
        return query.where(ScoredTweet.conversation_id.in_(mine))
    assigned = exists().where(
        owned.id == ScoredTweet.conversation_id, owned.assignee_id.is_not(None)
    )
    return query.where(~assigned)


def tweet_view(row: Any, decision: str | None = None, **conversation: Any) -> TweetView:
    """The view of a tweet's row (`tweet_rows`), with its conversation's
    fields where given (`status`, `assignee`, `first_response_at`, `replies_count`)."""
    return TweetView(
        id=row.id,
        created_at=row.created_at,
        received_at=row.received_at,
        scored_at=row.scored_at,
        arrived_at=row.arrived_at,
        text=row.text,
        url=row.url,
        rule_tags=list(row.rule_tags or []),
        p_needs_support=row.p_needs_support,
        flagged=row.flagged,
        model_version=row.model_version,
        decision=None if decision is None else Decision(decision),
        author_id=row.author_id,
        author_name=row.author_name,
        author_handle=row.author_handle,
        conversation_id=row.conversation_id or row.id,
        in_reply_to_tweet_id=row.in_reply_to_tweet_id,
        author_replied=bool(row.author_replied),
        **conversation,
    )


def is_flagged() -> Any:
    """`flagged = true`: an index can serve it on both back ends (`IS TRUE` PostgreSQL's
    cannot)."""
    return ScoredTweet.flagged == true()


def author_answered() -> Any:
    """The tweet is its author answering the team (on the queue's top whatever its score)."""
    return ScoredTweet.author_replied == true()


def is_open() -> Any:
    """Nobody has decided on the tweet yet."""
    return ScoredTweet.first_decided_at.is_(None)


def latest_decision_of(tweet_id: Any) -> Select[tuple[str]]:
    return (
        select(DecisionRecord.decision)
        .where(DecisionRecord.tweet_id == tweet_id)
        .order_by(DecisionRecord.decided_at.desc(), DecisionRecord.id.desc())
    )


def _filtered(query: Any, tag: str | None, since: datetime | None) -> Any:
    if tag:
        query = query.where(
            exists().where(TweetTag.tweet_id == ScoredTweet.id, TweetTag.tag == tag)
        )
    if since is not None:
        query = query.where(ScoredTweet.arrived_at >= as_utc(since))
    return query


def _scored_row(record: ScoredRecord) -> dict[str, Any]:
    if not record.id or not str(record.id).isdigit():
        raise StoreError(f"tweet id {record.id!r} is not a numeric X tweet id")
    scored_at = as_utc(record.scored_at)
    received_at = as_utc(record.received_at) if record.received_at else None
    return {
        "id": str(record.id),
        "created_at": as_utc(record.created_at),
        "received_at": received_at,
        "scored_at": scored_at,
        "arrived_at": received_at or scored_at,
        "text": record.text,
        "url": tweet_url(str(record.id)),
        "rule_tags": sorted({str(tag) for tag in record.rule_tags}),
        "p_needs_support": float(record.p_needs_support),
        "flagged": bool(record.flagged),
        "model_version": str(record.model_version),
        "sample_key": sample_key(str(record.id)),
        "author_id": record.author_id,
        "author_name": record.author_name,
        "author_handle": record.author_handle,
        "conversation_id": record.conversation_id or str(record.id),
        "in_reply_to_user_id": record.in_reply_to_user_id,
        "in_reply_to_tweet_id": record.in_reply_to_tweet_id,
    }


def sample_key(tweet_id: str) -> float:
    """A number in [0, 1) fixed by the id (its own hash salt: independent of other samples)."""
    digest = hashlib.sha256(f"triage-sample:{tweet_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _upsert_statement(dialect: str) -> Insert:
    """The scored-tweet upsert for executemany: a rescored tweet keeps its first arrival, its
    first decision, its conversation and whether it answered the team; the scorer's columns
    take the new values, the author's and thread's where the new record has them."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ScoredTweet.__table__
    statement = dialect_insert(table)
    excluded = statement.excluded
    kept = ("id", "first_decided_at", "author_replied", *_FIRST_WINS, *_NEW_IF_GIVEN)
    replaced: dict[str, Any] = {
        column.name: excluded[column.name] for column in table.columns if column.name not in kept
    }
    for name in _FIRST_WINS:
        replaced[name] = func.coalesce(table.c[name], excluded[name])
    for name in _NEW_IF_GIVEN:
        replaced[name] = func.coalesce(excluded[name], table.c[name])
    return statement.on_conflict_do_update(index_elements=["id"], set_=replaced)


_FIRST_WINS = ("received_at", "arrived_at", "conversation_id")
_NEW_IF_GIVEN = (
    "author_id",
    "author_name",
    "author_handle",
    "in_reply_to_user_id",
    "in_reply_to_tweet_id",
)


def _new_rows(connection: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of tweets the store does not hold yet (read before the upsert)."""
    ids = [row["id"] for row in rows]
    stored = set(connection.scalars(select(ScoredTweet.id).where(ScoredTweet.id.in_(ids))))
    return [row for row in rows if row["id"] not in stored]


def _conversation_upsert(dialect: str) -> Insert:
    """A new tweet's conversation: created open, or its author filled in if unknown."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = Conversation.__table__
    statement = dialect_insert(table)
    author = func.coalesce(table.c.author_id, statement.excluded.author_id)
    return statement.on_conflict_do_update(index_elements=["id"], set_={"author_id": author})


def _open_conversations(connection: Connection, upsert: Insert, new: list[dict[str, Any]]) -> None:
    """Create the new tweets' conversations, then open again those the team had answered
    where a new tweet is the answered author's: that tweet is marked `author_replied`."""
    if not new:
        return
    now = utc_now()
    first: dict[str, dict[str, Any]] = {}
    opened: dict[str, datetime] = {}
    for row in sorted(new, key=lambda r: (r["id"] != r["conversation_id"], r["arrived_at"])):
        first.setdefault(row["conversation_id"], row)  # the root tweet, else the earliest
        opened[row["conversation_id"]] = min(
            row["arrived_at"], opened.get(row["conversation_id"], row["arrived_at"])
        )
    connection.execute(
        upsert,
        [
            {
                "id": conversation,
                "status": ConversationStatus.OPEN.value,
                "author_id": row["author_id"],
                "opened_at": opened[conversation],
                "updated_at": now,
            }
            for conversation, row in first.items()
        ],
    )
    authored = [row for row in new if row["author_id"]]
    if not authored:
        return
    answered = dict(
        connection.execute(
            select(Conversation.id, Conversation.author_id).where(
                Conversation.id.in_({row["conversation_id"] for row in authored}),
                Conversation.status.in_(ANSWERED),
            )
        ).all()
    )
    answers = [row for row in authored if answered.get(row["conversation_id"]) == row["author_id"]]
    if not answers:
        return
    connection.execute(
        update(ScoredTweet)
        .where(ScoredTweet.id.in_([row["id"] for row in answers]))
        .values(author_replied=True)
    )
    connection.execute(
        update(Conversation)
        .where(Conversation.id.in_({row["conversation_id"] for row in answers}))
        .values(
            status=ConversationStatus.OPEN.value, reopened_at=now, resolved_at=None, updated_at=now
        )
    )


def _upsert_page(connection: Connection, upsert: Insert, rows: list[dict[str, Any]]) -> None:
    connection.execute(upsert, rows)
    ids = [row["id"] for row in rows]
    connection.execute(delete(TweetTag).where(TweetTag.tweet_id.in_(ids)))
    tags = [{"tweet_id": row["id"], "tag": tag} for row in rows for tag in row["rule_tags"]]
    if tags:
        connection.execute(TweetTag.__table__.insert(), tags)
